package protocol

import (
	"errors"
	"fmt"

	"github.com/hearthdb/hearth/codec"
)

// Stable error codes that are not SQLite result codes. SQL errors use
// SQLite's extended result code names (SQLITE_CONSTRAINT_UNIQUE, …).
const (
	CodeBadRequest         = "BAD_REQUEST"
	CodeClosed             = "CLOSED"
	CodeStorageUnavailable = "STORAGE_UNAVAILABLE"
	CodeStorageQuota       = "STORAGE_QUOTA"
	CodeInternal           = "INTERNAL"
	CodeMigrationFailed    = "MIGRATION_FAILED"
	CodeSchemaTooNew       = "SCHEMA_TOO_NEW"
	CodeWrongKey           = "WRONG_KEY"
	CodeBusy               = "BUSY"
	// CodeNotFound: the journal entry or quarantined change named does
	// not exist (any more).
	CodeNotFound = "NOT_FOUND"
	// CodeTxFinished: the transaction a request names is over (committed,
	// rolled back, timed out idle, or its owner went away), or never was.
	CodeTxFinished = "TX_FINISHED"
	// CodeTextOpOutOfRange: an editText op's position, or the end of
	// what it deletes, lies outside the text as the ops before it left it.
	CodeTextOpOutOfRange = "TEXT_OP_OUT_OF_RANGE"
	// CodeTextTooLarge: an editText request has too many ops, or the
	// field would hold more characters than one field may ever hold.
	CodeTextTooLarge = "TEXT_TOO_LARGE"
)

// Version is the wire protocol version carried in every envelope as "v".
const Version = 1

// Operations a request may name.
const (
	OpOpen  = "open"
	OpExec  = "exec"
	OpQuery = "query"
	OpBatch = "batch"
	OpClose = "close"
	// OpWatch subscribes to a query's results; OpUnwatch ends it.
	OpWatch   = "watch"
	OpUnwatch = "unwatch"
	// OpInfo reports storage, queue depth and live-query statistics.
	OpInfo = "info"
	// OpDatabases lists stored databases; OpDrop deletes one entirely.
	// Neither addresses an open handle.
	OpDatabases = "databases"
	OpDrop      = "drop"
	// OpSync reports a synced database's sync status; OpWatch with
	// {sync: true} subscribes to it.
	OpSync = "sync"
	// OpRetryQuarantined re-journals a quarantined outgoing change
	// ({quarantineId, rename?}); OpDiscardQuarantined drops one
	// ({quarantineId});
	// OpDismissChange deletes a flagged or refused journal entry the app
	// has shown ({seq}).
	OpRetryQuarantined   = "retryQuarantined"
	OpDiscardQuarantined = "discardQuarantined"
	OpDismissChange      = "dismissChange"
	// OpSetSyncToken gives the sync client a new bearer token ({token})
	// after the old one expired (status paused-auth, AUTH_EXPIRED).
	OpSetSyncToken = "setSyncToken"
	// OpNetwork passes the page's network signal ({online}) to every
	// sync client. Like OpDatabases it addresses no handle.
	OpNetwork = "network"
	// OpBegin starts an interactive transaction ({timeoutMs?}) and
	// answers {tx}. Until OpCommit or OpRollback ({tx}) ends it, only
	// requests carrying that tx field run on the database; every other
	// request waits. exec, query and batch take an optional tx field.
	OpBegin    = "begin"
	OpCommit   = "commit"
	OpRollback = "rollback"
	// OpHistory answers who wrote each field of one row, the values that
	// lost a merge here, and the journal entries that touched it
	// ({table, key: [primary key values]}; see syncworker/history).
	OpHistory = "history"
	// OpEditText applies an editor's character edits to one
	// collaborative text field at their exact positions ({table, key,
	// column, ops: [{at, insert} | {at, delete}]}) and answers {text}.
	OpEditText = "editText"
)

// Error is a failure with a stable code, sent back as {code, message, index?}.
type Error struct {
	Code    string
	Message string
	// Index is the failing statement of a batch, or -1.
	Index int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error with no statement index.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Index: -1}
}

// Request is a decoded request envelope.
type Request struct {
	ID int64
	Op string
	// DB is the database handle the request addresses (0 for open).
	DB int64
	// Fields holds every field of the envelope, operands included.
	Fields map[string]any
}

// ParseRequest decodes and checks a request envelope. When it fails, the
// returned id is the request's id if one could be read, and hasID says so.
func ParseRequest(msg []byte) (req Request, hasID bool, err *Error) {
	v, derr := codec.Decode(msg)
	if derr != nil {
		return req, false, Errorf(CodeBadRequest, "%v", derr)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return req, false, Errorf(CodeBadRequest, "a request must be a map, got %s", codec.TypeName(v))
	}
	id, ok := m["id"].(int64)
	if !ok {
		return req, false, Errorf(CodeBadRequest, "request field id must be an integer, got %s", codec.TypeName(m["id"]))
	}
	req.ID, req.Fields = id, m
	if ver, ok := m["v"].(int64); !ok || ver != Version {
		return req, true, Errorf(CodeBadRequest, "unsupported protocol version %v (this worker speaks %d)", m["v"], Version)
	}
	if req.Op, ok = m["op"].(string); !ok {
		return req, true, Errorf(CodeBadRequest, "request field op must be text, got %s", codec.TypeName(m["op"]))
	}
	if req.Op != OpOpen && req.Op != OpDatabases && req.Op != OpDrop && req.Op != OpNetwork {
		if req.DB, ok = m["db"].(int64); !ok {
			return req, true, Errorf(CodeBadRequest, "op %q needs an integer db handle, got %s", req.Op, codec.TypeName(m["db"]))
		}
	}
	return req, true, nil
}

// Text returns a required text operand.
func (r Request) Text(key string) (string, *Error) {
	s, ok := r.Fields[key].(string)
	if !ok {
		return "", Errorf(CodeBadRequest, "op %q needs text field %q, got %s", r.Op, key, codec.TypeName(r.Fields[key]))
	}
	return s, nil
}

// OptionalText returns a text operand, or def when it is absent or null.
func (r Request) OptionalText(key, def string) (string, *Error) {
	if r.Fields[key] == nil {
		return def, nil
	}
	return r.Text(key)
}

// EncodeOKHeader starts a success reply; the caller then writes exactly one
// value, the result.
func EncodeOKHeader(e *codec.Encoder, id int64) {
	e.Map(3)
	e.Key("v")
	e.Int(Version)
	e.Key("id")
	e.Int(id)
	e.Key("ok")
}

// EncodeError encodes an error reply. A nil id is sent as null.
func EncodeError(e *codec.Encoder, id *int64, err error) {
	var perr *Error
	if !errors.As(err, &perr) {
		perr = &Error{Code: CodeInternal, Message: err.Error(), Index: -1}
	}
	e.Map(3)
	e.Key("v")
	e.Int(Version)
	e.Key("id")
	if id == nil {
		e.Null()
	} else {
		e.Int(*id)
	}
	e.Key("error")
	n := 2
	if perr.Index >= 0 {
		n = 3
	}
	e.Map(n)
	e.Key("code")
	e.Text(perr.Code)
	e.Key("message")
	e.Text(perr.Message)
	if perr.Index >= 0 {
		e.Key("index")
		e.Int(int64(perr.Index))
	}
}
