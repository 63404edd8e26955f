package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// Error is a classified sync failure.
type Error struct {
	Class syncstatus.Class
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

func classified(class syncstatus.Class, format string, args ...any) *Error {
	return &Error{Class: class, Err: fmt.Errorf(format, args...)}
}

// Classify sorts an error into a syncstatus.Class.
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
			return &Error{Class: syncstatus.ClassAuth, Code: wire.CodeUnauthorized, Err: err}
		case he.Status == 409:
			return &Error{Class: syncstatus.ClassSchema, Code: wire.CodeSchemaMismatch, Err: err}
		case he.Status >= 500:
			return &Error{Class: syncstatus.ClassServer, Err: err}
		case he.Status == 408 || he.Status == 429:
			return &Error{Class: syncstatus.ClassTimeout, Err: err}
		}
		return &Error{Class: syncstatus.ClassProtocol, Err: err}
	}
	if errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrVersion) {
		return &Error{Class: syncstatus.ClassProtocol, Err: err}
	}
	switch closeStatus(err) {
	case statusGoingAway, statusInternalError, statusServiceRestart, statusTryAgainLater:
		return &Error{Class: syncstatus.ClassServer, Err: err}
	case statusProtocolError, statusUnsupportedData, statusInvalidFramePayloadData,
		statusPolicyViolation, statusMessageTooBig, statusMandatoryExtension:
		return &Error{Class: syncstatus.ClassProtocol, Err: err}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Class: syncstatus.ClassTimeout, Err: err}
	}
	// A timeout is an error that says it is one (net.Error, os.ErrDeadlineExceeded):
	// matched by its method rather than by net.Error, so that the worker's build,
	// which talks through the browser's WebSocket, does not link package net.
	var te interface{ Timeout() bool }
	if errors.As(err, &te) && te.Timeout() {
		return &Error{Class: syncstatus.ClassTimeout, Err: err}
	}
	// Anything else (EOF, a closed connection, a refused dial) is the network
	// being away.
	return &Error{Class: syncstatus.ClassOffline, Err: err}
}

// WebSocket close codes (RFC 6455 section 7.4.1) that Classify sorts;
// closeStatus (per platform, transport_*.go) reads them from an error.
const (
	statusGoingAway               = 1001
	statusProtocolError           = 1002
	statusUnsupportedData         = 1003
	statusInvalidFramePayloadData = 1007
	statusPolicyViolation         = 1008
	statusMessageTooBig           = 1009
	statusMandatoryExtension      = 1010
	statusInternalError           = 1011
	statusServiceRestart          = 1012
	statusTryAgainLater           = 1013
)

func classOfCode(code string) syncstatus.Class {
	switch code {
	case wire.CodeSchemaMismatch:
		return syncstatus.ClassSchema
	case wire.CodeUnauthorized, wire.CodeAuthExpired:
		return syncstatus.ClassAuth
	case wire.CodeInternal, wire.CodeShuttingDown, wire.CodeRateLimited:
		return syncstatus.ClassServer
	case wire.CodeClientTaken:
		return syncstatus.ClassReplica
	}
	return syncstatus.ClassProtocol
}
