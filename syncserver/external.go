package syncserver

import (
	"context"
	"time"

	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/hlc"
)

// ingestTimeout bounds one ingestion of external writes.
const ingestTimeout = time.Minute

// ingestExternalWrites syncs the rows other programs write straight into
// the store's tables (see store.ExternalWriter): whenever the store says
// some may be waiting (notified, or its one-second poll), it ingests them
// as changes the server wrote, stamped by the server's clock and checked
// by its invariants, then advances the head so sessions send them out.
// It ends with the server.
func (s *Server) ingestExternalWrites(x store.ExternalWriter) {
	defer s.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Shutdown cuts an ingestion short: it is one transaction per batch,
	// and what is not committed is ingested by the next server.
	go func() {
		select {
		case <-s.shutdown:
			cancel()
		case <-ctx.Done():
		}
	}()
	wake := make(chan struct{}, 1)
	err := x.WatchExternal(ctx, func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		s.log.Warn("sync: watching for external writes failed; retrying", "err", err)
	}
	for {
		select {
		case <-s.shutdown:
			return
		case <-wake:
		}
		ictx, done := context.WithTimeout(ctx, ingestTimeout)
		head, err := x.Ingest(ictx, s.stamp, checker{s: s})
		done()
		if err != nil {
			s.log.Warn("sync: ingesting external writes failed", "err", err)
			continue
		}
		s.head.advance(head)
	}
}

// stamp is a stamp for a change the server writes.
func (s *Server) stamp() hlc.Stamp { return hlc.Stamp{TS: s.clock.Now(), Node: s.node} }
