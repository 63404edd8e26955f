//go:build js && wasm

package client

import (
	"context"
	"errors"
	"fmt"

	"github.com/hearthdb/hearth/syncworker/browserws"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// DialWebSocket connects with the browser's WebSocket (package
// browserws), so the worker links no HTTP client. The browser does not
// tell a page the status of a refused handshake: that fails as a close
// with status 1006, which Classify counts as offline.
func DialWebSocket(ctx context.Context, url string) (Transport, error) {
	conn, err := browserws.Dial(ctx, url, []string{wire.Subprotocol}, maxReadBytes)
	if err != nil {
		return nil, err
	}
	return &browserTransport{conn: conn}, nil
}

type browserTransport struct{ conn *browserws.Conn }

func (t *browserTransport) Read(ctx context.Context) ([]byte, error) {
	b, err := t.conn.Read(ctx)
	if errors.Is(err, browserws.ErrTextFrame) {
		return nil, fmt.Errorf("%w: a text frame (sync messages are binary)", wire.ErrMalformed)
	}
	return b, err
}

func (t *browserTransport) Write(ctx context.Context, msg []byte) error {
	return t.conn.Write(ctx, msg)
}

func (t *browserTransport) Close(graceful bool) error {
	if graceful {
		return t.conn.Close("client closing")
	}
	return t.conn.CloseNow()
}

// closeStatus is the close code of a connection that ended with a close
// frame (or 1006 without one), or -1.
func closeStatus(err error) int {
	var ce *browserws.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}
