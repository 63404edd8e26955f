package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/hearthdb/hearth/syncworker/wire"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want syncstatus.Class
	}{
		{&HTTPError{Status: 401}, syncstatus.ClassAuth},
		{&HTTPError{Status: 403}, syncstatus.ClassAuth},
		{&HTTPError{Status: 409}, syncstatus.ClassSchema},
		{&HTTPError{Status: 503}, syncstatus.ClassServer},
		{&HTTPError{Status: 429}, syncstatus.ClassTimeout},
		{&HTTPError{Status: 404}, syncstatus.ClassProtocol},
		{fmt.Errorf("x: %w", &wire.Error{Code: wire.CodeSchemaMismatch}), syncstatus.ClassSchema},
		{&wire.Error{Code: wire.CodeUnauthorized}, syncstatus.ClassAuth},
		{&wire.Error{Code: wire.CodeInternal}, syncstatus.ClassServer},
		{&wire.Error{Code: wire.CodeShuttingDown}, syncstatus.ClassServer},
		{&wire.Error{Code: wire.CodeBadRequest}, syncstatus.ClassProtocol},
		{&wire.Error{Code: wire.CodeTooLarge}, syncstatus.ClassProtocol},
		{fmt.Errorf("read: %w", wire.ErrMalformed), syncstatus.ClassProtocol},
		{websocket.CloseError{Code: websocket.StatusGoingAway}, syncstatus.ClassServer},
		{websocket.CloseError{Code: websocket.StatusMessageTooBig}, syncstatus.ClassProtocol},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), syncstatus.ClassTimeout},
		{io.EOF, syncstatus.ClassOffline},
		// A network timeout is matched by its Timeout method, not as a net.Error.
		{&net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, syncstatus.ClassTimeout},
		{fmt.Errorf("read: %w", net.ErrClosed), syncstatus.ClassOffline},
		{errors.New("connection refused"), syncstatus.ClassOffline},
		{&Error{Class: syncstatus.ClassLocal, Err: errors.New("disk")}, syncstatus.ClassLocal},
	}
	for _, c := range cases {
		if got := Classify(c.err).Class; got != c.want {
			t.Errorf("%v: %s, want %s", c.err, got, c.want)
		}
	}
}
