// Package wire is the sync protocol between clients and the sync server
// (see syncserver/PROTOCOL.md): the messages, and their encoding as one
// binary WebSocket frame each with Hearth's tagged codec (wasm/protocol).
//
// It is shared by both ends, so a message the client encodes is decoded
// by the same code on the server and the other way round.
package wire

import (
	"errors"
	"fmt"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
)

// Version is the sync protocol version carried in every message as "v".
const Version = 1

// Subprotocol is the WebSocket subprotocol name.
const Subprotocol = "hearth-sync.v1"

// Error codes carried by Error messages.
const (
	// CodeBadRequest: a malformed frame or message.
	CodeBadRequest = "BAD_REQUEST"
	// CodeProtocolVersion: a protocol version the peer does not speak.
	CodeProtocolVersion = "PROTOCOL_VERSION"
	// CodeSchemaMismatch: the client's schema version is one the server
	// does not accept; Error.Min and Error.Max say which it accepts.
	CodeSchemaMismatch = "SCHEMA_MISMATCH"
	// CodeTooManyConnections: the server (HTTP 503) or the principal
	// (HTTP 429) holds as many sync connections as it may; refused at the
	// upgrade.
	CodeTooManyConnections = "TOO_MANY_CONNECTIONS"
	// CodeTooLarge: a message over the size limit.
	CodeTooLarge = "TOO_LARGE"
	// CodeUnauthorized: authentication failed (also HTTP 401).
	CodeUnauthorized = "UNAUTHORIZED"
	// CodeInternal: the server failed; retry later.
	CodeInternal = "INTERNAL"
	// CodeShuttingDown: the server is closing; reconnect later.
	CodeShuttingDown = "SHUTTING_DOWN"
	// CodeBatchTooLarge: a push with more changes than the server takes
	// in one (Welcome.MaxBatch); the client sends smaller pushes.
	CodeBatchTooLarge = "BATCH_TOO_LARGE"
	// CodeRateLimited: the client pushes faster than the server allows;
	// Error.RetryAfter says when to push again.
	CodeRateLimited = "RATE_LIMITED"
	// CodeAuthExpired: the credentials the session was opened with
	// expired; the server closes the connection. Reconnect with fresh
	// ones.
	CodeAuthExpired = "AUTH_EXPIRED"
	// CodeClientTaken: the client id of the hello is bound to another
	// principal (the first to use it, on a server with authentication);
	// the server closes the connection. Retrying cannot help: the replica
	// must sync under another id (a new local database, or a reset
	// replica), or as the principal that owns it.
	CodeClientTaken = "CLIENT_TAKEN"
)

// Verdicts in an Ack.
const (
	Acknowledged = "acknowledged"
	Flagged      = "flagged"
	Refused      = "refused"
)

// ErrMalformed is wrapped by every decoding error.
var ErrMalformed = errors.New("malformed sync message")

// ErrVersion is wrapped when a message has another protocol version.
var ErrVersion = errors.New("unsupported sync protocol version")

// Message is one of the message types below.
type Message interface{ messageType() string }

// Frame is a decoded message with the schema version it carries.
type Frame struct {
	// Schema is the sender's app schema version: the client's
	// PRAGMA user_version, or the newest version the server knows.
	Schema int64
	Msg    Message
}

// Hello opens a session (client → server).
type Hello struct {
	Client string
	// Cursor is the client's log position, -1 before its first sync.
	Cursor int64
	// Scopes, when not nil, subscribes to these scopes only (of those
	// the identity grants); nil subscribes to every granted scope.
	Scopes []string
}

// Welcome accepts a session (server → client).
type Welcome struct {
	// Server identifies the server's store; a client whose stored id
	// differs must sync from scratch.
	Server string
	Head   int64
	// Min and Max bound the client schema versions the server accepts.
	Min, Max int64
	// MaxMessage is the largest frame the server reads, in bytes.
	MaxMessage int64
	// MaxBatch is the most changes the server takes in one push (0: no
	// limit, or a server that predates the field).
	MaxBatch int64
	// Now is the server's wall clock when it sent the welcome, in Unix
	// milliseconds (0: a server that predates the field). The client
	// measures its clock's offset from it.
	Now int64
	// MaxSkew is how far ahead of the server's clock a change may be
	// stamped, in milliseconds (0: no bound, or a server that predates
	// the field); changes stamped further ahead are refused with
	// CLOCK_SKEW.
	MaxSkew int64
}

// Pushed is one journal entry sent for storage.
type Pushed struct {
	Seq int64
	change.Change
	// Packed optionally holds Values already encoded (as the journal
	// stores them), so the client sends them without re-encoding.
	Packed []byte
}

// Push sends local changes (client → server). Pushes are idempotent by
// (client, seq): the server stores each seq once and answers a repeat
// with its first verdict.
type Push struct {
	ID      int64
	Changes []Pushed
}

// Result is the server's verdict on one pushed change.
type Result struct {
	Seq int64
	// State is Acknowledged, Flagged or Refused.
	State string
	// Pos is the server log position of the change (not for Refused).
	Pos  int64
	Code string
	// Detail is the violation (Flagged) or the reason (Refused).
	Detail string
	// Row is the server's state of the row, for Refused: the client
	// rolls its row back to it.
	Row []change.Change
}

// Ack answers a Push (server → client).
type Ack struct {
	Re      int64
	Results []Result
}

// Subscribe asks for every log entry after a position, then live ones
// (client → server).
type Subscribe struct{ After int64 }

// Entry is one server log entry.
type Entry struct {
	Pos int64
	change.Change
	// Packed optionally holds Values already encoded, so a server
	// sending one entry to many clients encodes the values once.
	Packed []byte
}

// Changes carries log entries (server → client). Upto is the position
// the client has caught up to once it applied them: entries the client
// pushed itself are not sent back, but Upto covers them.
type Changes struct {
	Upto    int64
	Head    int64
	Entries []Entry
	// Evict lists rows that left the client's scopes (moved to a scope it
	// does not read): the client forgets them, before applying Entries.
	Evict []SnapshotCursor
}

// SnapshotCursor is where a snapshot resumes: after this row.
type SnapshotCursor struct {
	Table string
	Key   []byte
}

// SnapshotRequest asks for one chunk of the server's state (client →
// server). At is -1 for a new snapshot, else the At of its first chunk.
type SnapshotRequest struct {
	ID    int64
	At    int64
	After SnapshotCursor
	Limit int64
	// Scopes, when not nil, asks for these scopes' rows only, and adds
	// them to the session's subscription (a client adding a scope).
	Scopes []string
}

// Chunk is one chunk of a snapshot (server → client). At is the log
// position the snapshot started at: after the last chunk, the client
// pulls the log from there.
type Chunk struct {
	Re      int64
	At      int64
	Changes []change.Change
	Rows    int64
	Total   int64
	Next    SnapshotCursor
	Done    bool
}

// ChecksumRequest asks for table fingerprints (client → server).
type ChecksumRequest struct{ ID int64 }

// TableSum is one table's fingerprint.
type TableSum struct {
	Rows int64
	Hash uint64
}

// Checksums answers a ChecksumRequest (server → client), after every log
// entry up to Pos has been sent on the same connection.
type Checksums struct {
	Re     int64
	Pos    int64
	Tables map[string]TableSum
}

// Ping checks the connection is alive (client → server).
type Ping struct{ ID int64 }

// Pong answers a Ping.
type Pong struct{ Re int64 }

// Error reports a failure with a stable code (server → client). Re is the
// request it answers, 0 when it concerns the connection.
type Error struct {
	Re       int64
	Code     string
	Message  string
	Min, Max int64 // for SCHEMA_MISMATCH
	// RetryAfter is how long to wait before trying again, in
	// milliseconds (RATE_LIMITED).
	RetryAfter int64
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

func (Hello) messageType() string           { return "hello" }
func (Welcome) messageType() string         { return "welcome" }
func (Push) messageType() string            { return "push" }
func (Ack) messageType() string             { return "ack" }
func (Subscribe) messageType() string       { return "sub" }
func (Changes) messageType() string         { return "changes" }
func (SnapshotRequest) messageType() string { return "snapshot" }
func (Chunk) messageType() string           { return "chunk" }
func (ChecksumRequest) messageType() string { return "checksum" }
func (Checksums) messageType() string       { return "checksums" }
func (Ping) messageType() string            { return "ping" }
func (Pong) messageType() string            { return "pong" }
func (*Error) messageType() string          { return "error" }

// Type names a message as the "t" field does.
func Type(m Message) string { return m.messageType() }

// Encode encodes a message with the sender's schema version.
func Encode(m Message, schemaVersion int64) ([]byte, error) {
	var e codec.Encoder
	if err := AppendMessage(&e, m, schemaVersion); err != nil {
		return nil, err
	}
	return e.Bytes(), nil
}

// AppendMessage encodes a message into e.
func AppendMessage(e *codec.Encoder, m Message, schemaVersion int64) error {
	// The message's map counts its own entries: optional fields are
	// written only when set, so peers that predate them see the message
	// they know.
	top := e.BeginMap()
	top.Key("v")
	e.Int(Version)
	top.Key("t")
	e.Text(m.messageType())
	top.Key("s")
	e.Int(schemaVersion)
	switch m := m.(type) {
	case Hello:
		top.Key("client")
		e.Text(m.Client)
		top.Key("cursor")
		e.Int(m.Cursor)
		if m.Scopes != nil {
			top.Key("scopes")
			appendTexts(e, m.Scopes)
		}
	case Welcome:
		top.Key("server")
		e.Text(m.Server)
		top.Key("head")
		e.Int(m.Head)
		top.Key("min")
		e.Int(m.Min)
		top.Key("max")
		e.Int(m.Max)
		top.Key("maxMessage")
		e.Int(m.MaxMessage)
		if m.MaxBatch != 0 {
			top.Key("maxBatch")
			e.Int(m.MaxBatch)
		}
		if m.Now != 0 {
			top.Key("now")
			e.Int(m.Now)
		}
		if m.MaxSkew != 0 {
			top.Key("maxSkew")
			e.Int(m.MaxSkew)
		}
	case Push:
		top.Key("id")
		e.Int(m.ID)
		top.Key("changes")
		e.Array(len(m.Changes))
		for _, p := range m.Changes {
			e.Array(8)
			e.Int(p.Seq)
			if err := appendChange(e, &p.Change, p.Packed); err != nil {
				return fmt.Errorf("push seq %d: %w", p.Seq, err)
			}
		}
	case Ack:
		top.Key("re")
		e.Int(m.Re)
		top.Key("results")
		e.Array(len(m.Results))
		for _, r := range m.Results {
			e.Array(6)
			e.Int(r.Seq)
			e.Text(r.State)
			e.Int(r.Pos)
			e.Text(r.Code)
			e.Text(r.Detail)
			if r.Row == nil {
				e.Null()
			} else if err := appendChanges(e, r.Row); err != nil {
				return err
			}
		}
	case Subscribe:
		top.Key("after")
		e.Int(m.After)
	case Changes:
		if len(m.Evict) > 0 {
			top.Key("evict")
			e.Array(len(m.Evict))
			for _, c := range m.Evict {
				appendCursor(e, c)
			}
		}
		top.Key("upto")
		e.Int(m.Upto)
		top.Key("head")
		e.Int(m.Head)
		top.Key("entries")
		e.Array(len(m.Entries))
		for i := range m.Entries {
			e.Array(8)
			e.Int(m.Entries[i].Pos)
			if err := appendChange(e, &m.Entries[i].Change, m.Entries[i].Packed); err != nil {
				return fmt.Errorf("log entry %d: %w", m.Entries[i].Pos, err)
			}
		}
	case SnapshotRequest:
		if m.Scopes != nil {
			top.Key("scopes")
			appendTexts(e, m.Scopes)
		}
		top.Key("id")
		e.Int(m.ID)
		top.Key("at")
		e.Int(m.At)
		top.Key("after")
		appendCursor(e, m.After)
		top.Key("limit")
		e.Int(m.Limit)
	case Chunk:
		top.Key("re")
		e.Int(m.Re)
		top.Key("at")
		e.Int(m.At)
		top.Key("changes")
		if err := appendChanges(e, m.Changes); err != nil {
			return err
		}
		top.Key("rows")
		e.Int(m.Rows)
		top.Key("total")
		e.Int(m.Total)
		top.Key("next")
		appendCursor(e, m.Next)
		top.Key("done")
		e.Bool(m.Done)
	case ChecksumRequest:
		top.Key("id")
		e.Int(m.ID)
	case Checksums:
		top.Key("re")
		e.Int(m.Re)
		top.Key("pos")
		e.Int(m.Pos)
		top.Key("tables")
		e.Map(len(m.Tables))
		for name, s := range m.Tables {
			e.Key(name)
			e.Array(2)
			e.Int(s.Rows)
			e.Int(int64(s.Hash))
		}
	case Ping:
		top.Key("id")
		e.Int(m.ID)
	case Pong:
		top.Key("re")
		e.Int(m.Re)
	case *Error:
		top.Key("re")
		e.Int(m.Re)
		top.Key("code")
		e.Text(m.Code)
		top.Key("message")
		e.Text(m.Message)
		top.Key("min")
		e.Int(m.Min)
		top.Key("max")
		e.Int(m.Max)
		if m.RetryAfter != 0 {
			top.Key("retryAfter")
			e.Int(m.RetryAfter)
		}
	default:
		return fmt.Errorf("wire: cannot encode %T", m)
	}
	top.End()
	return nil
}

// appendChange writes the 7 fields [tbl, key, op, cols, hlc, node, sv].
func appendChange(e *codec.Encoder, c *change.Change, packed []byte) error {
	e.Text(c.Table)
	e.Blob(c.Key)
	e.Text(c.Op.Code())
	switch {
	case c.Op == change.Delete:
		e.Null()
	case packed != nil:
		e.Raw(packed)
	default:
		if err := change.EncodeValues(e, c.Values); err != nil {
			return err
		}
	}
	e.Int(int64(c.Stamp.TS))
	e.Text(c.Stamp.Node)
	e.Int(c.Schema)
	return nil
}

func appendChanges(e *codec.Encoder, cs []change.Change) error {
	e.Array(len(cs))
	for i := range cs {
		e.Array(7)
		if err := appendChange(e, &cs[i], nil); err != nil {
			return err
		}
	}
	return nil
}

func appendCursor(e *codec.Encoder, c SnapshotCursor) {
	if c.Table == "" {
		e.Null()
		return
	}
	e.Array(2)
	e.Text(c.Table)
	e.Blob(c.Key)
}

// Decode decodes one frame. Errors wrap ErrMalformed, or ErrVersion for
// another protocol version.
func Decode(b []byte) (Frame, error) {
	var f Frame
	v, err := codec.Decode(b)
	if err != nil {
		return f, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return f, malformed("a message must be a map, got %s", codec.TypeName(v))
	}
	r := reader{m: m}
	version := r.int("v")
	if r.err != nil {
		return f, r.err
	}
	if version != Version {
		return f, fmt.Errorf("%w %d (this side speaks %d)", ErrVersion, version, Version)
	}
	t := r.text("t")
	f.Schema = r.int("s")
	if r.err != nil {
		return f, r.err
	}
	switch t {
	case "hello":
		f.Msg = Hello{Client: r.text("client"), Cursor: r.int("cursor"), Scopes: r.optTexts("scopes")}
	case "welcome":
		f.Msg = Welcome{Server: r.text("server"), Head: r.int("head"), Min: r.int("min"), Max: r.int("max"), MaxMessage: r.int("maxMessage"), MaxBatch: r.optInt("maxBatch"),
			Now: r.optInt("now"), MaxSkew: r.optInt("maxSkew")}
	case "push":
		p := Push{ID: r.int("id")}
		for i, item := range r.array("changes") {
			fields, err := tuple(item, 8)
			if err != nil {
				return f, fmt.Errorf("push change %d: %w", i, err)
			}
			seq, ok := fields[0].(int64)
			if !ok {
				return f, malformed("push change %d: seq must be an integer", i)
			}
			c, err := decodeChange(fields[1:])
			if err != nil {
				return f, fmt.Errorf("push change %d (seq %d): %w", i, seq, err)
			}
			p.Changes = append(p.Changes, Pushed{Seq: seq, Change: c})
		}
		f.Msg = p
	case "ack":
		a := Ack{Re: r.int("re")}
		for i, item := range r.array("results") {
			fields, err := tuple(item, 6)
			if err != nil {
				return f, fmt.Errorf("ack result %d: %w", i, err)
			}
			var res Result
			var ok [5]bool
			res.Seq, ok[0] = fields[0].(int64)
			res.State, ok[1] = fields[1].(string)
			res.Pos, ok[2] = fields[2].(int64)
			res.Code, ok[3] = fields[3].(string)
			res.Detail, ok[4] = fields[4].(string)
			if ok != [5]bool{true, true, true, true, true} {
				return f, malformed("ack result %d: want [seq, state, pos, code, detail, row]", i)
			}
			switch res.State {
			case Acknowledged, Flagged, Refused:
			default:
				return f, malformed("ack result %d: unknown state %q", i, res.State)
			}
			if fields[5] != nil {
				res.Row, err = decodeChanges(fields[5])
				if err != nil {
					return f, fmt.Errorf("ack result %d row: %w", i, err)
				}
				if res.Row == nil {
					res.Row = []change.Change{}
				}
			}
			a.Results = append(a.Results, res)
		}
		f.Msg = a
	case "sub":
		f.Msg = Subscribe{After: r.int("after")}
	case "changes":
		c := Changes{Upto: r.int("upto"), Head: r.int("head")}
		if ev, ok := r.m["evict"].([]any); ok {
			for i, item := range ev {
				sub := reader{m: map[string]any{"evict": item}}
				cur := sub.cursor("evict")
				if sub.err != nil || cur.Table == "" {
					return f, malformed("evict %d: want [table, key]", i)
				}
				c.Evict = append(c.Evict, cur)
			}
		} else if r.m["evict"] != nil {
			return f, malformed("field \"evict\" must be an array")
		}
		for i, item := range r.array("entries") {
			fields, err := tuple(item, 8)
			if err != nil {
				return f, fmt.Errorf("log entry %d: %w", i, err)
			}
			pos, ok := fields[0].(int64)
			if !ok {
				return f, malformed("log entry %d: pos must be an integer", i)
			}
			ch, err := decodeChange(fields[1:])
			if err != nil {
				return f, fmt.Errorf("log entry %d (pos %d): %w", i, pos, err)
			}
			c.Entries = append(c.Entries, Entry{Pos: pos, Change: ch})
		}
		f.Msg = c
	case "snapshot":
		f.Msg = SnapshotRequest{ID: r.int("id"), At: r.int("at"), After: r.cursor("after"), Limit: r.int("limit"), Scopes: r.optTexts("scopes")}
	case "chunk":
		c := Chunk{Re: r.int("re"), At: r.int("at"), Rows: r.int("rows"), Total: r.int("total"), Next: r.cursor("next"), Done: r.bool("done")}
		if r.err == nil {
			var err error
			if c.Changes, err = decodeChanges(m["changes"]); err != nil {
				return f, fmt.Errorf("chunk: %w", err)
			}
		}
		f.Msg = c
	case "checksum":
		f.Msg = ChecksumRequest{ID: r.int("id")}
	case "checksums":
		c := Checksums{Re: r.int("re"), Pos: r.int("pos"), Tables: map[string]TableSum{}}
		tables, ok := m["tables"].(map[string]any)
		if !ok {
			return f, malformed("checksums: tables must be a map")
		}
		for name, v := range tables {
			fields, err := tuple(v, 2)
			if err != nil {
				return f, fmt.Errorf("checksum of %s: %w", name, err)
			}
			rows, ok1 := fields[0].(int64)
			hash, ok2 := fields[1].(int64)
			if !ok1 || !ok2 {
				return f, malformed("checksum of %s: want [rows, hash]", name)
			}
			c.Tables[name] = TableSum{Rows: rows, Hash: uint64(hash)}
		}
		f.Msg = c
	case "ping":
		f.Msg = Ping{ID: r.int("id")}
	case "pong":
		f.Msg = Pong{Re: r.int("re")}
	case "error":
		f.Msg = &Error{Re: r.optInt("re"), Code: r.text("code"), Message: r.text("message"), Min: r.optInt("min"), Max: r.optInt("max"), RetryAfter: r.optInt("retryAfter")}
	default:
		return f, malformed("unknown message type %q", t)
	}
	if r.err != nil {
		return f, fmt.Errorf("%s: %w", t, r.err)
	}
	return f, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// reader reads typed fields of a map, keeping the first error.
type reader struct {
	m   map[string]any
	err error
}

func (r *reader) fail(key, want string) {
	if r.err == nil {
		r.err = malformed("field %q must be %s, got %s", key, want, codec.TypeName(r.m[key]))
	}
}

func (r *reader) int(key string) int64 {
	v, ok := r.m[key].(int64)
	if !ok {
		r.fail(key, "an integer")
	}
	return v
}

func (r *reader) optInt(key string) int64 {
	if r.m[key] == nil {
		return 0
	}
	return r.int(key)
}

func (r *reader) text(key string) string {
	v, ok := r.m[key].(string)
	if !ok {
		r.fail(key, "text")
	}
	return v
}

func (r *reader) bool(key string) bool {
	v, ok := r.m[key].(bool)
	if !ok {
		r.fail(key, "a boolean")
	}
	return v
}

func (r *reader) array(key string) []any {
	v, ok := r.m[key].([]any)
	if !ok {
		r.fail(key, "an array")
	}
	return v
}

func (r *reader) cursor(key string) SnapshotCursor {
	v := r.m[key]
	if v == nil {
		return SnapshotCursor{}
	}
	fields, err := tuple(v, 2)
	if err != nil {
		r.fail(key, "null or [table, key]")
		return SnapshotCursor{}
	}
	t, ok1 := fields[0].(string)
	k, ok2 := fields[1].([]byte)
	if !ok1 || !ok2 || t == "" {
		r.fail(key, "null or [table, key]")
	}
	return SnapshotCursor{Table: t, Key: k}
}

func tuple(v any, n int) ([]any, error) {
	a, ok := v.([]any)
	if !ok || len(a) != n {
		return nil, malformed("want an array of %d fields, got %s", n, codec.TypeName(v))
	}
	return a, nil
}

// decodeChange reads [tbl, key, op, cols, hlc, node, sv].
func decodeChange(f []any) (change.Change, error) {
	var c change.Change
	table, ok := f[0].(string)
	if !ok || table == "" {
		return c, malformed("table must be non-empty text")
	}
	key, ok := f[1].([]byte)
	if !ok || len(key) == 0 {
		return c, malformed("key must be a non-empty blob")
	}
	opText, ok := f[2].(string)
	if !ok {
		return c, malformed("op must be text")
	}
	op, err := change.ParseOp(opText)
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	values, err := change.ValuesFrom(f[3])
	if err != nil {
		return c, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	ts, ok1 := f[4].(int64)
	node, ok2 := f[5].(string)
	sv, ok3 := f[6].(int64)
	if !ok1 || !ok2 || !ok3 {
		return c, malformed("want integer hlc, text node, integer schema version")
	}
	return change.Change{Table: table, Key: key, Op: op, Values: values, Stamp: hlc.Stamp{TS: hlc.Timestamp(ts), Node: node}, Schema: sv}, nil
}

func decodeChanges(v any) ([]change.Change, error) {
	items, ok := v.([]any)
	if !ok {
		return nil, malformed("changes must be an array, got %s", codec.TypeName(v))
	}
	var out []change.Change
	for i, item := range items {
		fields, err := tuple(item, 7)
		if err != nil {
			return nil, fmt.Errorf("change %d: %w", i, err)
		}
		c, err := decodeChange(fields)
		if err != nil {
			return nil, fmt.Errorf("change %d: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func appendTexts(e *codec.Encoder, list []string) {
	e.Array(len(list))
	for _, t := range list {
		e.Text(t)
	}
}

// optTexts reads an optional array of text: nil when absent.
func (r *reader) optTexts(key string) []string {
	if r.m[key] == nil {
		return nil
	}
	out := []string{}
	for _, v := range r.array(key) {
		t, ok := v.(string)
		if !ok {
			r.fail(key, "an array of text")
			return nil
		}
		out = append(out, t)
	}
	return out
}
