package syncserver_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// frameMeter records the largest frame a client read.
type frameMeter struct {
	client.Transport
	largest *atomic.Int64
}

func (t frameMeter) Read(ctx context.Context) ([]byte, error) {
	b, err := t.Transport.Read(ctx)
	for {
		seen := t.largest.Load()
		if int64(len(b)) <= seen || t.largest.CompareAndSwap(seen, int64(len(b))) {
			break
		}
	}
	return b, err
}

// metered is a device whose client records the largest frame it reads.
func metered(t *testing.T, name string, h *harness) (*device, *atomic.Int64) {
	largest := new(atomic.Int64)
	var d *device
	d = newDevice(t, name, h, nil, client.Config{Dial: func(ctx context.Context, url string) (client.Transport, error) {
		tr, err := d.net.dial(ctx, url)
		if err != nil {
			return nil, err
		}
		return frameMeter{tr, largest}, nil
	}})
	return d, largest
}

// TestFramesAreBoundedByBytes: big rows reach every kind of reader (a
// live catch-up through the log, a fresh device's snapshot, a device
// behind a compacted log) in frames cut by bytes, never one frame of
// them all; a change over the size caps is refused with TOO_LARGE.
// (A review made every catch-up of a scope fail for good with twenty
// 3.4 MiB rows: batches were cut by count only, beyond the client's
// 64 MiB read limit.)
func TestFramesAreBoundedByBytes(t *testing.T) {
	const budget, rowBytes, rows = 64 << 10, 20 << 10, 20
	h := fileServer(t, syncserver.Config{MaxSendBytes: budget, MaxValueBytes: 32 << 10, MaxChangeBytes: 40 << 10})
	// Most a frame may hold: the budget, plus the row that crossed it,
	// plus framing.
	const bound = budget + rowBytes + 4<<10

	behind, behindLargest := metered(t, "behind", h)
	compacted, compactedLargest := metered(t, "compacted", h)
	for _, d := range []*device{behind, compacted} {
		d.start()
		d.synced(h)
		d.stop()
	}

	writer := newDevice(t, "writer", h, nil, client.Config{})
	for i := range rows {
		writer.mustExec(`INSERT INTO tasks(id, title) VALUES (?, ?)`, fmt.Sprintf("big-%02d", i), strings.Repeat("x", rowBytes))
	}
	writer.start()
	writer.synced(h)

	// Through the log.
	behind.start()
	behind.synced(h)
	// A fresh device's snapshot.
	fresh, freshLargest := metered(t, "fresh", h)
	fresh.start()
	fresh.synced(h)
	// Behind a compacted log: the state streamed as log messages.
	head := h.serverQuery(`SELECT max(pos) FROM _hearth_log`)[0][0].(int64)
	if _, err := h.srv.Load().Compact(context.Background(), head); err != nil {
		t.Fatal(err)
	}
	compacted.start()
	compacted.synced(h)

	for _, c := range []struct {
		d       *device
		largest *atomic.Int64
	}{{behind, behindLargest}, {fresh, freshLargest}, {compacted, compactedLargest}} {
		if got := c.d.query(`SELECT count(*) FROM tasks WHERE length(title) = ?`, int64(rowBytes))[0][0]; got != int64(rows) {
			t.Errorf("%s has %v of the %d big rows", c.d.name, got, rows)
		}
		if n := c.largest.Load(); n > bound {
			t.Errorf("%s read a %d-byte frame; frames are cut at %d bytes", c.d.name, n, budget)
		} else if n < rowBytes {
			t.Errorf("%s read no frame as large as one row (%d bytes): the test measured nothing", c.d.name, n)
		}
	}

	// Over the caps: refused per change, the rest applies.
	writer.mustExec(`INSERT INTO tasks(id, title) VALUES ('too-big-value', ?)`, strings.Repeat("v", 33<<10))
	writer.mustExec(`INSERT INTO tasks(id, title, legacy) VALUES ('too-big-change', ?, ?)`, strings.Repeat("c", 30<<10), strings.Repeat("c", 30<<10))
	writer.mustExec(`INSERT INTO tasks(id, title) VALUES ('fits', 'small')`)
	writer.synced(h)
	got := writer.query(`SELECT pk, state, code FROM _hearth_journal WHERE state = 'refused' ORDER BY seq`)
	if len(got) != 2 || got[0][2] != wire.CodeTooLarge || got[1][2] != wire.CodeTooLarge {
		t.Fatalf("refused journal entries %v, want the two oversized inserts with %s", got, wire.CodeTooLarge)
	}
	if n := h.serverQuery(`SELECT count(*) FROM tasks WHERE id IN ('too-big-value', 'too-big-change', 'fits')`)[0][0]; n != int64(1) {
		t.Fatalf("server holds %v of the three rows, want only the one that fits", n)
	}
}
