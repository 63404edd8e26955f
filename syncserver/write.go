package syncserver

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// A backend write is an app backend's change to rows (Server.Write, or
// POST /v1/write through WriteHandler). It takes exactly the path of a
// device's push: one store.Push with the server's Checker (scopes,
// Authorize, invariants and violation rows, the log), then the head
// signal that wakes every live session. Its changes are stamped now by
// the server's clock, so they win over older device edits field by field
// like any newer write, and lose to newer ones.
//
// Idempotency. The store already answers a repeated (client, seq) with
// its first outcome and applies nothing twice; a write is mapped onto
// that. Its client id is "server-w-" plus 128 bits of
// sha256(principal, idempotency key), its rows are seqs 1..n, stamped by
// that node (the store refuses a change stamped by another node than the
// pushing client). Devices may not use ids starting with "server-", so
// no device can take a write's id. Seq 0 is a marker that records the
// request's digest: the write Checker refuses it with
// IDEMPOTENCY_RECORD and the digest as its message, which the store keeps
// like any refusal. A retry gets that refusal back as the marker's first
// outcome; a different digest means the key was reused for other content,
// and the write fails with IDEMPOTENCY_MISMATCH: its rows were all
// answered from the first write's records (nothing applied), and rows
// beyond the first write's count are refused by the Checker before they
// are applied.
//
// What this keeps: the stores keep no state per client, only per
// (client, seq): a log entry, or a refusal row, or (once compacted) an
// acked row, for every row written — as for every device change — plus
// the marker's refusal row, one per write. Nothing grows per key beyond
// the write's own rows and that one record.

// Codes of backend write errors, beside the wire codes (BAD_REQUEST,
// BATCH_TOO_LARGE, SHUTTING_DOWN, INTERNAL, …).
const (
	// CodeIdempotencyMismatch: the idempotency key was used before for a
	// write of different content.
	CodeIdempotencyMismatch = "IDEMPOTENCY_MISMATCH"
	// codeIdempotencyRecord marks the refusal that records a write's
	// digest; it is never a row's outcome.
	codeIdempotencyRecord = "IDEMPOTENCY_RECORD"
)

// Backend write row operations.
const (
	// OpUpsert writes the columns it names: an update of the row when the
	// server holds it, else an insert of the whole row, the columns not
	// named at the values a device's INSERT would give them (see
	// rowDefaults).
	OpUpsert = "upsert"
	// OpDelete deletes the row, leaving a tombstone.
	OpDelete = "delete"
)

// Row outcomes of a backend write.
const (
	WriteApplied = "applied"
	WriteFlagged = "flagged"
	WriteRefused = "refused"
)

// maxIdempotencyKey bounds an idempotency key's length.
const maxIdempotencyKey = 255

// WriteRequest is a backend write.
type WriteRequest struct {
	// Principal is who wrote it (e.g. "service:billing"): the Authorize
	// hook and the invariants see it, and it scopes the idempotency key.
	Principal string
	// IdempotencyKey is required: a retry with the same key (same
	// principal) gets the first outcome again and applies nothing twice.
	IdempotencyKey string
	// Changes are bounded by Config.MaxPushBatch.
	Changes []RowWrite
}

// RowWrite is one row of a backend write. Values hold JSON-decoded
// values (see Write for their conversion).
type RowWrite struct {
	Table string
	// Op is OpUpsert or OpDelete.
	Op string
	// Values, for an upsert, are the columns to write, key columns
	// included.
	Values map[string]any
	// Key, for a delete, holds the primary-key columns.
	Key map[string]any
}

// WriteResult is the outcome of a backend write.
type WriteResult struct {
	// Results has one outcome per row, in order.
	Results []RowResult
	// Head is the last log position after the write.
	Head int64
}

// RowResult is one row's outcome.
type RowResult struct {
	// Status is WriteApplied, WriteFlagged or WriteRefused.
	Status string
	// Pos is the row's log position (applied and flagged rows).
	Pos int64
	// Code is the refusal's stable code, the same devices get
	// (UNKNOWN_TABLE, UNKNOWN_COLUMN, TYPE_MISMATCH, BAD_KEY, CONSTRAINT,
	// FORBIDDEN, …).
	Code string
	// Message explains a refusal or names a flagged row's violations.
	Message string
}

// WriteError is a backend write refused as a whole: nothing of it was
// applied.
type WriteError struct {
	// Code is stable: BAD_REQUEST, BATCH_TOO_LARGE, IDEMPOTENCY_MISMATCH,
	// SHUTTING_DOWN or INTERNAL.
	Code    string
	Message string
}

func (e *WriteError) Error() string { return e.Code + ": " + e.Message }

func writeErr(code, format string, args ...any) *WriteError {
	return &WriteError{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Write applies a backend write and fans it out to the connected
// devices. A row's JSON values are converted per its column's declared
// type: INTEGER columns take integral numbers (others are refused with
// TYPE_MISMATCH), REAL columns numbers, TEXT strings, BLOB
// {"$base64": "…"}; null is NULL and true/false are 1/0. Numbers arrive
// as json.Number (or any Go integer or float). A row the store refuses
// comes back refused with the same code a device gets, and the others
// apply. An error is a *WriteError; nothing was applied then.
func (s *Server) Write(ctx context.Context, req WriteRequest) (WriteResult, error) {
	w, err := s.prepareWrite(req)
	if err != nil {
		return WriteResult{}, err
	}
	return s.writePrepared(ctx, w)
}

// writePrepared applies a prepared write unless the server is shutting
// down; Shutdown waits for it.
func (s *Server) writePrepared(ctx context.Context, w preparedWrite) (WriteResult, error) {
	if !s.enter() {
		return WriteResult{}, writeErr(wire.CodeShuttingDown, "the sync server is shutting down")
	}
	defer s.wg.Done()
	return s.applyWrite(ctx, w)
}

// preparedWrite is a write request checked and converted to changes
// (unstamped).
type preparedWrite struct {
	req     WriteRequest
	changes []change.Change
	// digest fingerprints the request's content.
	digest string
}

// prepareWrite checks and converts a request, reading nothing: the
// write endpoint refuses a bad request before it costs the token's
// rate.
func (s *Server) prepareWrite(req WriteRequest) (preparedWrite, error) {
	if err := validWriteRequest(req, s.cfg.MaxPushBatch); err != nil {
		return preparedWrite{}, err
	}
	rows, digest, err := s.writeChanges(req)
	if err != nil {
		return preparedWrite{}, err
	}
	return preparedWrite{req: req, changes: rows, digest: digest}, nil
}

// applyWrite pushes a prepared write and fans it out.
func (s *Server) applyWrite(ctx context.Context, w preparedWrite) (WriteResult, error) {
	req, rows, digest := w.req, w.changes, w.digest
	for i := range rows {
		// Rows of tables the store refuses (not synced, Hearth's own)
		// need neither.
		if rows[i].Op != change.Insert || s.tableInfo(rows[i].Table) == nil ||
			strings.HasPrefix(strings.ToLower(rows[i].Table), schema.ReservedPrefix) {
			continue
		}
		alive, err := s.rowAlive(ctx, rows[i].Table, rows[i].Key)
		if err != nil {
			s.log.Error("sync: backend write: reading a row failed", "table", rows[i].Table, "err", err)
			return WriteResult{}, writeErr(wire.CodeInternal, "the server could not read the row of change %d; retry", i)
		}
		if alive {
			rows[i].Op = change.Update
			continue
		}
		if err := s.fillDefaults(rows[i].Table, rows[i].Values); err != nil {
			s.log.Error("sync: backend write: evaluating column defaults failed", "table", rows[i].Table, "err", err)
			return WriteResult{}, writeErr(wire.CodeInternal, "the server could not complete the new row of change %d", i)
		}
	}
	client := writeClientID(req.Principal, req.IdempotencyKey)
	for i := range rows {
		if err := s.textEdits(ctx, &rows[i], client); err != nil {
			var r *merge.Refusal
			if errors.As(err, &r) {
				return WriteResult{}, writeErr(wire.CodeBadRequest, "change %d: %s", i, r.Message)
			}
			s.log.Error("sync: backend write: reading a row failed", "table", rows[i].Table, "err", err)
			return WriteResult{}, writeErr(wire.CodeInternal, "the server could not read the row of change %d; retry", i)
		}
	}
	// Restamped: a retry stamps its rows anew; its digest marker, not the
	// stamps, tells a retry from a reuse of the key.
	p := store.Push{Client: client, Principal: req.Principal, Schema: s.info.Version, Restamped: true, MaxRowBytes: max(s.cfg.MaxRowBytes, 0),
		TextCompactTombstones: max(s.cfg.TextCompactTombstones, 0),
		Stamp:                 func() hlc.Stamp { return hlc.Stamp{TS: s.clock.Now(), Node: s.node} }}
	p.Changes = make([]store.Pushed, 0, len(rows)+1)
	marker, err := s.digestMarker(client)
	if err != nil {
		return WriteResult{}, writeErr(wire.CodeInternal, "%v", err)
	}
	p.Changes = append(p.Changes, store.Pushed{Seq: 0, Change: marker})
	for i, ch := range rows {
		ch.Stamp = hlc.Stamp{TS: s.clock.Now(), Node: client}
		p.Changes = append(p.Changes, store.Pushed{Seq: int64(i + 1), Change: ch})
	}
	// Hooks find the writer's identity as they find a device's.
	ctx = context.WithValue(ctx, identityKey{}, Identity{Principal: req.Principal})
	headBefore, _ := s.head.get()
	started := time.Now()
	res, err := s.store.Push(ctx, p, &writeChecker{checker: checker{s: s}, digest: digest})
	if err != nil {
		if errors.Is(err, store.ErrBadRequest) {
			return WriteResult{}, writeErr(wire.CodeBadRequest, "%v", err)
		}
		s.log.Error("sync: backend write failed", "principal", req.Principal, "err", err)
		return WriteResult{}, writeErr(wire.CodeInternal, "the server could not store the write; retry with the same idempotency key")
	}
	s.head.advance(res.Head)
	if len(res.Outcomes) != len(p.Changes) {
		return WriteResult{}, writeErr(wire.CodeInternal, "the store answered %d of %d changes", len(res.Outcomes), len(p.Changes))
	}
	first := res.Outcomes[0]
	if first.State != wire.Refused || first.Code != codeIdempotencyRecord {
		return WriteResult{}, writeErr(wire.CodeInternal, "the write's idempotency record was not kept (%s %s)", first.State, first.Code)
	}
	if first.Detail != digest {
		return WriteResult{}, writeErr(CodeIdempotencyMismatch, "the idempotency key %q was used before for a write of different content", req.IdempotencyKey)
	}
	res.Outcomes = res.Outcomes[1:]
	s.recordPush(len(rows), headBefore, res, started)
	out := WriteResult{Head: res.Head, Results: make([]RowResult, len(res.Outcomes))}
	for i, o := range res.Outcomes {
		r := RowResult{Pos: o.Pos, Message: o.Detail}
		switch o.State {
		case wire.Acknowledged:
			r.Status = WriteApplied
		case wire.Flagged:
			r.Status = WriteFlagged
		default:
			r.Status, r.Code, r.Pos = WriteRefused, o.Code, 0
		}
		out.Results[i] = r
	}
	s.log.Info("sync: backend write", "principal", req.Principal, "client", client, "rows", len(rows), "head", res.Head)
	return out, nil
}

func validWriteRequest(req WriteRequest, maxBatch int) error {
	switch {
	case req.Principal == "":
		return writeErr(wire.CodeBadRequest, "the write has no principal")
	case req.IdempotencyKey == "" || len(req.IdempotencyKey) > maxIdempotencyKey:
		return writeErr(wire.CodeBadRequest, "an idempotency key of 1 to %d characters is required", maxIdempotencyKey)
	case len(req.Changes) == 0:
		return writeErr(wire.CodeBadRequest, "the write has no changes")
	case len(req.Changes) > maxBatch:
		return writeErr(wire.CodeBatchTooLarge, "a write of %d changes; this server takes up to %d per write", len(req.Changes), maxBatch)
	}
	for _, r := range req.IdempotencyKey {
		if r < 0x21 || r > 0x7e {
			return writeErr(wire.CodeBadRequest, "the idempotency key must be printable ASCII without spaces")
		}
	}
	return nil
}

// writeClientID is the replica id a write pushes as: one per principal
// and idempotency key, reserved to the server (see validClientID).
func writeClientID(principal, key string) string {
	h := sha256.New()
	writeField(h, principal)
	writeField(h, key)
	return "server-w-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// writeField writes a length-prefixed field, so no two field lists hash
// alike.
func writeField(h interface{ Write([]byte) (int, error) }, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}

// writeChanges converts the rows to changes (unstamped) and digests the
// request's content.
func (s *Server) writeChanges(req WriteRequest) ([]change.Change, string, error) {
	h := sha256.New()
	var enc codec.Encoder
	out := make([]change.Change, len(req.Changes))
	for i, rw := range req.Changes {
		ch, err := convertRow(s.tableInfo(rw.Table), rw)
		if err != nil {
			return nil, "", writeErr(wire.CodeBadRequest, "change %d: %v", i, err)
		}
		ch.Schema = s.info.Version
		// The digest is of the request as converted, op as asked.
		enc.Reset()
		if err := change.EncodeValues(&enc, ch.Values); err != nil {
			return nil, "", writeErr(wire.CodeBadRequest, "change %d: %v", i, err)
		}
		writeField(h, ch.Table)
		writeField(h, rw.Op)
		writeField(h, string(ch.Key))
		writeField(h, string(enc.Bytes()))
		out[i] = ch
	}
	return out, hex.EncodeToString(h.Sum(nil)), nil
}

// writeState is what the backend writes of a server share.
type writeState struct {
	once     sync.Once
	defaults *rowDefaults
	err      error
	closed   bool
	mu       sync.Mutex
}

// fillDefaults completes the values of a new row (see rowDefaults). The
// defaults database is opened at the first backend write: a server that
// gets none does not pay for it.
func (s *Server) fillDefaults(table string, values map[string]any) error {
	w := &s.writes
	w.once.Do(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.closed {
			w.err = errors.New("the server is closed")
			return
		}
		w.defaults, w.err = newRowDefaults(s.cfg.Migrations, s.info.Tables)
	})
	if w.err != nil {
		return w.err
	}
	return w.defaults.fill(s.tableInfo(table), values)
}

func (w *writeState) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.defaults != nil {
		w.defaults.Close()
	}
}

// tableInfo describes a synced table (nil if it is not one).
func (s *Server) tableInfo(name string) *schema.Info {
	for _, t := range s.info.Tables {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// rowAlive reports whether the store holds the row (not deleted). A row
// created between this read and the push gets the upsert as an insert,
// which wins the columns it names (see PROTOCOL.md, Backend writes).
func (s *Server) rowAlive(ctx context.Context, table string, key []byte) (bool, error) {
	if _, err := change.DecodeKey(key); err != nil {
		return false, nil // the store refuses it with BAD_KEY
	}
	row, _, err := s.store.Row(ctx, table, key)
	if err != nil {
		return false, err
	}
	for _, ch := range row {
		if ch.Op == change.Insert {
			return true, nil
		}
	}
	return false, nil
}

// textEdits turns the new text a backend write gives a collaborative
// text column into the ops of that edit against the row's stored state
// (merge.TextEdits), written as the write's own client id: each request
// is its own replica, so its characters' IDs are new.
func (s *Server) textEdits(ctx context.Context, ch *change.Change, client string) error {
	t := s.tableInfo(ch.Table)
	if t == nil || len(t.Text) == 0 || ch.Op == change.Delete {
		return nil
	}
	wants := false
	for _, col := range t.Text {
		if _, ok := ch.Values[col].(string); ok {
			wants = true
		}
	}
	if !wants {
		return nil
	}
	if _, err := change.DecodeKey(ch.Key); err != nil {
		return nil // the store refuses it with BAD_KEY
	}
	row, _, err := s.store.Row(ctx, ch.Table, ch.Key)
	if err != nil {
		return err
	}
	// The row's changes (merge.ChangesOf) carry a text field's state, or
	// its plain text when it has none (a column declared collaborative
	// after it held text): the newest one, the last in the list, is what
	// the field holds.
	states, texts := map[string][]byte{}, map[string]string{}
	for _, rc := range row {
		for col, v := range rc.Values {
			if !t.IsText(col) {
				continue
			}
			switch v := v.(type) {
			case []byte:
				states[col] = v
			case string:
				texts[col] = v
			}
		}
	}
	return merge.TextEdits(t, ch, func(col string) ([]byte, string) { return states[col], texts[col] }, client)
}

// convertRow turns a row write into a change for its table (nil when the
// table is not synced: the store refuses the change with UNKNOWN_TABLE).
// Values a column cannot hold are converted as their JSON type says, so
// that the store refuses them with the code a device would get; only
// what no column can hold (an array, an object other than {"$base64"})
// is an error.
func convertRow(t *schema.Info, rw RowWrite) (change.Change, error) {
	ch := change.Change{Table: rw.Table}
	var cols map[string]any
	switch rw.Op {
	case OpUpsert:
		if rw.Values == nil {
			return ch, errors.New(`an upsert needs "values"`)
		}
		if rw.Key != nil {
			return ch, errors.New(`an upsert carries its key columns in "values", not "key"`)
		}
		ch.Op, cols = change.Insert, rw.Values
	case OpDelete:
		if rw.Key == nil {
			return ch, errors.New(`a delete needs "key"`)
		}
		if rw.Values != nil {
			return ch, errors.New(`a delete carries no "values"`)
		}
		ch.Op, cols = change.Delete, rw.Key
	default:
		return ch, fmt.Errorf("unknown op %q (want %q or %q)", rw.Op, OpUpsert, OpDelete)
	}
	var key []any
	values := map[string]any{}
	for name, raw := range cols {
		col := schema.Column{Name: name, Affinity: schema.AffinityBlob}
		if t != nil {
			if c, ok := t.Column(name); ok {
				col = c
			}
		}
		v, err := convertValue(col, raw)
		if err != nil {
			return ch, fmt.Errorf("column %q: %w", name, err)
		}
		if col.KeyPosition == 0 {
			values[name] = v
		}
	}
	if t == nil {
		key = []any{""} // the store refuses the table first
	} else {
		for _, name := range t.Key {
			c, _ := t.Column(name)
			if raw, ok := cols[name]; ok {
				v, _ := convertValue(c, raw) // converted above
				key = append(key, v)
			}
		}
	}
	if ch.Op == change.Delete {
		// A key column the table does not have makes a key of the
		// wrong length: the store refuses it with BAD_KEY.
		// A key naming other columns than the primary key's is one value
		// too long, which the store refuses with BAD_KEY. Sorted, so the
		// same request always makes the same key.
		if len(values) > 0 {
			for _, name := range slices.Sorted(maps.Keys(values)) {
				key = append(key, values[name])
			}
			if t != nil && len(key) == len(t.Key) {
				key = append(key, nil)
			}
		}
		values = nil
	}
	// A key missing columns (or all) is refused by the store with
	// BAD_KEY, like a device's.
	k, err := change.EncodeKey(key...)
	if err != nil {
		return ch, err
	}
	ch.Key = k
	if ch.Op != change.Delete {
		ch.Values = values
	}
	return ch, nil
}

// convertValue converts one JSON value for a column.
func convertValue(c schema.Column, v any) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool:
		if x {
			return int64(1), nil
		}
		return int64(0), nil
	case string:
		return x, nil
	case json.Number:
		return convertNumber(c, string(x))
	case float64:
		return convertNumber(c, strconv.FormatFloat(x, 'g', -1, 64))
	case float32:
		return convertNumber(c, strconv.FormatFloat(float64(x), 'g', -1, 32))
	case int:
		return convertNumber(c, strconv.Itoa(x))
	case int64:
		return convertNumber(c, strconv.FormatInt(x, 10))
	case int32:
		return convertNumber(c, strconv.FormatInt(int64(x), 10))
	case []byte:
		return x, nil
	case map[string]any:
		if b64, ok := x["$base64"].(string); ok && len(x) == 1 {
			b, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				return nil, fmt.Errorf("bad $base64: %w", err)
			}
			return b, nil
		}
		return nil, errors.New(`an object value must be {"$base64": "…"} (a blob)`)
	}
	return nil, fmt.Errorf("a %T is not a column value", v)
}

// convertNumber converts a JSON number exactly: to an integer for an
// INTEGER (or NUMERIC, untyped) column when it is integral and fits,
// else to a float, which an INTEGER column refuses with TYPE_MISMATCH.
func convertNumber(c schema.Column, s string) (any, error) {
	if c.Affinity != schema.AffinityReal {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
		// 1e3 and 2.0 are integral too; big.Rat reads them exactly, at a
		// cost bounded by the number's length and exponent.
		if len(s) <= 64 && smallExponent(s) {
			if r, ok := new(big.Rat).SetString(s); ok && r.IsInt() && r.Num().IsInt64() {
				return r.Num().Int64(), nil
			}
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("number %q: %w", s, err)
	}
	return f, nil
}

// smallExponent reports whether a JSON number's exponent, if any, is
// within ±40: big.Rat would build 10^exp, and a hostile 1e999999999 must
// not cost a gigabyte.
func smallExponent(s string) bool {
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return true
	}
	exp, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
	return err == nil && exp >= -40 && exp <= 40
}

// digestMarker is the seq 0 change of a write, which its Checker refuses
// to record the write's digest (see the top of this file). It must pass
// the store's validation to reach the Checker: a delete of a valid key of
// the first synced app table.
func (s *Server) digestMarker(client string) (change.Change, error) {
	var t *schema.Info
	for _, info := range s.info.Tables {
		if !strings.HasPrefix(strings.ToLower(info.Name), schema.ReservedPrefix) {
			t = info
			break
		}
	}
	if t == nil {
		return change.Change{}, errors.New("the server has no synced tables")
	}
	key := make([]any, len(t.Key))
	for i, name := range t.Key {
		c, _ := t.Column(name)
		switch c.Affinity {
		case schema.AffinityText:
			key[i] = ""
		case schema.AffinityBlob:
			key[i] = []byte{}
		default:
			key[i] = int64(0)
		}
	}
	k, err := change.EncodeKey(key...)
	if err != nil {
		return change.Change{}, err
	}
	return change.Change{Table: t.Name, Key: k, Op: change.Delete, Schema: s.info.Version,
		Stamp: hlc.Stamp{TS: s.clock.Now(), Node: client}}, nil
}

// writeChecker is the server's Checker for a backend write: it records
// the digest marker and refuses rows of a reused key's write that the
// first write did not have.
type writeChecker struct {
	checker
	digest string
	// recorded is set when the marker is admitted, i.e. this is the
	// key's first write.
	recorded bool
}

func (k *writeChecker) Admit(ctx context.Context, q store.Querier, p *store.Push, c *store.Pushed) *merge.Refusal {
	if c.Seq == 0 {
		k.recorded = true
		return &merge.Refusal{Code: codeIdempotencyRecord, Message: k.digest}
	}
	if !k.recorded {
		// The marker was answered from the key's first write, which had
		// no such row: a different request under a used key.
		return &merge.Refusal{Code: CodeIdempotencyMismatch, Message: "the idempotency key was used before for a write of different content"}
	}
	return k.checker.Admit(ctx, q, p, c)
}

var _ store.Checker = (*writeChecker)(nil)
