package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/syncworker/wire"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		err  error
		want Class
	}{
		{&HTTPError{Status: 401}, ClassAuth},
		{&HTTPError{Status: 403}, ClassAuth},
		{&HTTPError{Status: 409}, ClassSchema},
		{&HTTPError{Status: 503}, ClassServer},
		{&HTTPError{Status: 429}, ClassTimeout},
		{&HTTPError{Status: 404}, ClassProtocol},
		{fmt.Errorf("x: %w", &wire.Error{Code: wire.CodeSchemaMismatch}), ClassSchema},
		{&wire.Error{Code: wire.CodeUnauthorized}, ClassAuth},
		{&wire.Error{Code: wire.CodeInternal}, ClassServer},
		{&wire.Error{Code: wire.CodeShuttingDown}, ClassServer},
		{&wire.Error{Code: wire.CodeBadRequest}, ClassProtocol},
		{&wire.Error{Code: wire.CodeTooLarge}, ClassProtocol},
		{fmt.Errorf("read: %w", wire.ErrMalformed), ClassProtocol},
		{websocket.CloseError{Code: websocket.StatusGoingAway}, ClassServer},
		{websocket.CloseError{Code: websocket.StatusMessageTooBig}, ClassProtocol},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), ClassTimeout},
		{io.EOF, ClassOffline},
		{errors.New("connection refused"), ClassOffline},
		{&Error{Class: ClassLocal, Err: errors.New("disk")}, ClassLocal},
	}
	for _, c := range cases {
		if got := Classify(c.err).Class; got != c.want {
			t.Errorf("%v: %s, want %s", c.err, got, c.want)
		}
	}
}
