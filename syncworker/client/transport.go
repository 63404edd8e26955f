package client

import (
	"context"
	"fmt"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// Transport is a message connection to the sync server: one binary frame
// per message.
type Transport interface {
	Read(ctx context.Context) ([]byte, error)
	Write(ctx context.Context, msg []byte) error
	// Close ends the connection; graceful says whether to wait for the
	// peer's close handshake.
	Close(graceful bool) error
}

// Dialer opens a Transport.
type Dialer func(ctx context.Context, url string) (Transport, error)

// maxReadBytes bounds one message from the server.
const maxReadBytes = 64 << 20

// DialWebSocket connects with github.com/coder/websocket, which uses the
// browser's WebSocket under js/wasm and its own client natively.
func DialWebSocket(ctx context.Context, url string) (Transport, error) {
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{wire.Subprotocol}})
	if err != nil {
		if resp != nil && resp.StatusCode != 0 && resp.StatusCode != 101 {
			return nil, &HTTPError{Status: resp.StatusCode, Err: err}
		}
		return nil, err
	}
	conn.SetReadLimit(maxReadBytes)
	return &wsTransport{conn: conn}, nil
}

type wsTransport struct{ conn *websocket.Conn }

func (t *wsTransport) Read(ctx context.Context) ([]byte, error) {
	typ, b, err := t.conn.Read(ctx)
	if err != nil {
		return nil, err
	}
	if typ != websocket.MessageBinary {
		return nil, fmt.Errorf("%w: a text frame (sync messages are binary)", wire.ErrMalformed)
	}
	return b, nil
}

func (t *wsTransport) Write(ctx context.Context, msg []byte) error {
	return t.conn.Write(ctx, websocket.MessageBinary, msg)
}

func (t *wsTransport) Close(graceful bool) error {
	if graceful {
		return t.conn.Close(websocket.StatusNormalClosure, "client closing")
	}
	return t.conn.CloseNow()
}
