package syncserver

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/change"
)

// logTail keeps the newest log entries in memory for the sessions that
// stream them live. Without it every connected session reads each new
// batch from the store itself: with a thousand clients that is a thousand
// identical reads per commit, queued on the same store lock the pushes
// need. With it one session reads a new batch from the store and the
// others copy it from here. Sessions further behind than the tail (a
// client catching up) read the store directly, as before.
//
// The log is append-only and a position never changes its entry, so a
// cached entry never goes stale.
type logTail struct {
	// fill lets one session at a time read the store for new entries;
	// the others wait, then find them cached.
	fill sync.Mutex

	mu sync.Mutex
	// entries holds every log entry with from < pos <= to, in order;
	// packed their values, encoded once for every session that sends
	// them (nil for a delete).
	entries  []store.Entry
	packed   [][]byte
	from, to int64
	// keep and keepBytes bound the tail by entries and by their weight
	// (changeBytes): a few huge rows must not hold the server's memory.
	keep      int
	keepBytes int
	bytes     int
}

// tailBytes bounds the tail's weight (its values are held twice: decoded
// and packed).
const tailBytes = 64 << 20

// tailBatches is how many log batches the tail keeps (16,000 entries by
// default, a few MB): enough for every session that stalls a few seconds
// behind a busy log (waiting for its own push to commit) to catch up from
// memory. A session that falls out of the tail reads the store, which
// competes with the pushes for the store's lock and slows everyone: the
// tail must outlast the stalls.
const tailBatches = 32

func newLogTail(head int64, keep, keepBytes int) *logTail {
	return &logTail{from: head, to: head, keep: keep, keepBytes: keepBytes}
}

// cached returns up to limit entries after pos and the position they
// reach, when the tail covers pos and reaches want; ok is false when the
// caller must read the store.
func (t *logTail) cached(after int64, limit int, want int64) (out []store.Entry, packed [][]byte, head int64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if after < t.from || after > t.to {
		return nil, nil, 0, false
	}
	// Positions grow but need not be dense: find the first after pos.
	i := sort.Search(len(t.entries), func(k int) bool { return t.entries[k].Pos > after })
	j := min(len(t.entries), i+limit)
	if j-i < limit && t.to < want {
		return nil, nil, 0, false // the store has entries the tail lacks
	}
	// Capped slices: appends to the tail never write into them.
	return t.entries[i:j:j], t.packed[i:j:j], t.to, true
}

// add appends entries read from the store after position after, which
// reach head (the store's head when the read returned all there was).
func (t *logTail) add(after int64, entries []store.Entry, packed [][]byte, reach int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if after != t.to {
		return // another read got there first
	}
	t.entries = append(t.entries, entries...)
	t.packed = append(t.packed, packed...)
	t.to = reach
	for i := range entries {
		t.bytes += changeBytes(&entries[i].Change)
	}
	if len(t.entries) <= t.keep && t.bytes <= t.keepBytes {
		return
	}
	// Over either bound: drop the oldest down to half of both.
	drop := 0
	for drop < len(t.entries) && (len(t.entries)-drop > t.keep/2 || t.bytes > t.keepBytes/2) {
		t.bytes -= changeBytes(&t.entries[drop].Change)
		drop++
	}
	if drop == 0 {
		return
	}
	t.from = t.entries[drop-1].Pos
	t.entries = append([]store.Entry(nil), t.entries[drop:]...)
	t.packed = append([][]byte(nil), t.packed[drop:]...)
}

// readLog returns up to limit log entries after pos and the position
// read up to, like store.Log, from the tail when it can. want is the
// position the session needs to reach (beyond after).
// packed holds the entries' encoded values when they came from the tail
// (nil otherwise).
func (s *Server) readLog(ctx context.Context, after int64, limit int, want int64) (entries []store.Entry, packed [][]byte, head int64, err error) {
	t := s.tail
	if out, packed, head, ok := t.cached(after, limit, want); ok {
		return out, packed, head, nil
	}
	t.fill.Lock()
	defer t.fill.Unlock()
	for {
		if out, packed, head, ok := t.cached(after, limit, want); ok {
			return out, packed, head, nil
		}
		t.mu.Lock()
		if after > t.to {
			// Nobody read through the tail for a while (no live
			// sessions): start it over where this session is.
			// The packed values go too: they are indexed like entries.
			t.entries, t.packed, t.from, t.to, t.bytes = nil, nil, after, after, 0
		}
		from, to := t.from, t.to
		t.mu.Unlock()
		if after < from {
			// Behind the tail: a catch-up, served by the store alone.
			entries, head, err := s.store.Log(ctx, after, limit)
			return entries, nil, head, err
		}
		batch := max(limit, s.cfg.LogBatch)
		entries, head, err := s.store.Log(ctx, to, batch)
		if err != nil {
			return nil, nil, 0, err
		}
		reach := head
		if len(entries) == batch {
			reach = entries[len(entries)-1].Pos
		}
		if reach <= to {
			// Nothing new in the store: the session's head is ahead of
			// what the store shows (cannot happen with one store); let
			// the store answer.
			entries, head, err := s.store.Log(ctx, after, limit)
			return entries, nil, head, err
		}
		packed, err := packValues(entries)
		if err != nil {
			return nil, nil, 0, err
		}
		t.add(to, entries, packed, reach)
	}
}

// packValues encodes each entry's values as the wire sends them.
func packValues(entries []store.Entry) ([][]byte, error) {
	out := make([][]byte, len(entries))
	var enc codec.Encoder
	for i := range entries {
		if entries[i].Op == change.Delete {
			continue
		}
		enc.Reset()
		if err := change.EncodeValues(&enc, entries[i].Values); err != nil {
			return nil, fmt.Errorf("log entry %d: %w", entries[i].Pos, err)
		}
		out[i] = bytes.Clone(enc.Bytes())
	}
	return out, nil
}
