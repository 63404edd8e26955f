package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// Class is what kind of failure ended a sync attempt. The status counts
// retries by class, and the class decides how the client waits.
type Class string

const (
	// ClassOffline: the server could not be reached, or the connection
	// dropped.
	ClassOffline Class = "offline"
	// ClassTimeout: the server did not answer in time (a hang).
	ClassTimeout Class = "timeout"
	// ClassAuth: the server refused our credentials (HTTP 401/403).
	ClassAuth Class = "auth"
	// ClassSchema: the server does not accept our schema version (HTTP
	// 409, SCHEMA_MISMATCH). Sync pauses until a migration.
	ClassSchema Class = "schema"
	// ClassServer: the server failed (HTTP 5xx, INTERNAL, shutting down).
	ClassServer Class = "server"
	// ClassProtocol: the server sent garbage or refused our messages as
	// malformed; a bug on one side.
	ClassProtocol Class = "protocol"
	// ClassLocal: the local database failed.
	ClassLocal Class = "local"
)

// Classes lists every class, in a fixed order.
var Classes = []Class{ClassOffline, ClassTimeout, ClassAuth, ClassSchema, ClassServer, ClassProtocol, ClassLocal}

// Error is a classified sync failure.
type Error struct {
	Class Class
	// Code is the server's error code when it sent one.
	Code string
	Err  error
}

func (e *Error) Error() string {
	if e.Code != "" {
		return fmt.Sprintf("%s (%s): %v", e.Class, e.Code, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Class, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// HTTPError is a WebSocket handshake answered with a non-101 status.
type HTTPError struct {
	Status int
	Err    error
}

func (e *HTTPError) Error() string { return fmt.Sprintf("HTTP %d: %v", e.Status, e.Err) }
func (e *HTTPError) Unwrap() error { return e.Err }

func classified(class Class, format string, args ...any) *Error {
	return &Error{Class: class, Err: fmt.Errorf(format, args...)}
}

// Classify sorts an error into a Class.
func Classify(err error) *Error {
	var ce *Error
	if errors.As(err, &ce) {
		return ce
	}
	var we *wire.Error
	if errors.As(err, &we) {
		return &Error{Class: classOfCode(we.Code), Code: we.Code, Err: err}
	}
	var he *HTTPError
	if errors.As(err, &he) {
		switch {
		case he.Status == 401 || he.Status == 403:
			return &Error{Class: ClassAuth, Code: wire.CodeUnauthorized, Err: err}
		case he.Status == 409:
			return &Error{Class: ClassSchema, Code: wire.CodeSchemaMismatch, Err: err}
		case he.Status >= 500:
			return &Error{Class: ClassServer, Err: err}
		case he.Status == 408 || he.Status == 429:
			return &Error{Class: ClassTimeout, Err: err}
		}
		return &Error{Class: ClassProtocol, Err: err}
	}
	if errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrVersion) {
		return &Error{Class: ClassProtocol, Err: err}
	}
	switch websocket.CloseStatus(err) {
	case websocket.StatusGoingAway, websocket.StatusInternalError, websocket.StatusServiceRestart, websocket.StatusTryAgainLater:
		return &Error{Class: ClassServer, Err: err}
	case websocket.StatusProtocolError, websocket.StatusUnsupportedData, websocket.StatusInvalidFramePayloadData,
		websocket.StatusPolicyViolation, websocket.StatusMessageTooBig, websocket.StatusMandatoryExtension:
		return &Error{Class: ClassProtocol, Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Class: ClassTimeout, Err: err}
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Class: ClassTimeout, Err: err}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return &Error{Class: ClassOffline, Err: err}
	}
	return &Error{Class: ClassOffline, Err: err}
}

func classOfCode(code string) Class {
	switch code {
	case wire.CodeSchemaMismatch:
		return ClassSchema
	case wire.CodeUnauthorized, wire.CodeAuthExpired:
		return ClassAuth
	case wire.CodeInternal, wire.CodeShuttingDown, wire.CodeRateLimited:
		return ClassServer
	}
	return ClassProtocol
}
