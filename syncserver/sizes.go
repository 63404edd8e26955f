package syncserver

import (
	"fmt"

	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// Sizes the server holds data to. A client reads frames of up to 64 MiB
// (syncworker/client); a server that batched by count alone once sent
// catch-ups of twenty 3.4 MiB rows in one frame, which every new device
// of that scope failed to read, for good. Every frame the server sends is
// now cut by bytes (MaxSendBytes), and one change can never be large
// enough to fill one alone (MaxValueBytes, MaxChangeBytes).
const (
	defaultMaxSendBytes   = 16 << 20
	defaultMaxValueBytes  = 1 << 20
	defaultMaxChangeBytes = 2 << 20
	// defaultMaxRowBytes leaves a whole row well inside one frame
	// (MaxSendBytes, and the client's 64 MiB).
	defaultMaxRowBytes       = 4 << 20
	defaultMaxPrincipalBytes = 1 << 30
	// defaultTextCompactTombstones: a compaction ships the field's old
	// state (about 8–10 bytes a character) to every client once; past a
	// thousand deletes that is paid back by every later load and merge.
	defaultTextCompactTombstones = 1024
	entryOverhead                = store.EntryOverhead
)

// valueBytes is what a stored value weighs on the wire.
func valueBytes(v any) int { return store.ValueWeight(v) }

// changeBytes is what a change weighs on the wire, near enough to bound a
// frame by.
func changeBytes(c *change.Change) int { return store.ChangeWeight(c) }

// oversized refuses a pushed change that holds a value over MaxValueBytes
// or weighs more than MaxChangeBytes in all, with TOO_LARGE.
func (s *Server) oversized(c *change.Change) *merge.Refusal {
	total := entryOverhead + len(c.Table) + len(c.Key)
	for col, v := range c.Values {
		n := valueBytes(v)
		if n > s.cfg.MaxValueBytes {
			return &merge.Refusal{Code: wire.CodeTooLarge, Message: fmt.Sprintf("column %s holds %d bytes; a value may hold at most %d", col, n, s.cfg.MaxValueBytes)}
		}
		total += len(col) + n
	}
	if total > s.cfg.MaxChangeBytes {
		return &merge.Refusal{Code: wire.CodeTooLarge, Message: fmt.Sprintf("the change weighs %d bytes; a change may weigh at most %d", total, s.cfg.MaxChangeBytes)}
	}
	return nil
}

// entriesWithin returns how many of the entries fit in budget bytes: at
// least one (a lone entry is sent whatever it weighs: nothing smaller
// can carry it).
func entriesWithin(entries []store.Entry, budget int) int {
	used := 0
	for i := range entries {
		used += changeBytes(&entries[i].Change)
		if used > budget && i > 0 {
			return i
		}
	}
	return len(entries)
}

// trimChunk cuts a snapshot chunk to budget bytes at a row boundary (a
// row's changes stay together; the first row always goes), moving its
// cursor to the last row kept. A cut chunk is not the last one.
func trimChunk(chunk *store.Chunk, budget int) {
	used, rows := 0, 0
	for i := range chunk.Changes {
		c := &chunk.Changes[i]
		newRow := i == 0 || c.Table != chunk.Changes[i-1].Table || string(c.Key) != string(chunk.Changes[i-1].Key)
		used += changeBytes(c)
		if newRow {
			if used > budget && rows > 0 {
				last := &chunk.Changes[i-1]
				chunk.Changes = chunk.Changes[:i]
				chunk.Rows = int64(rows)
				chunk.Next = merge.Cursor{Table: last.Table, Key: last.Key}
				chunk.Done = false
				return
			}
			rows++
		}
	}
}
