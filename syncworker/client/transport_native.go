//go:build !(js && wasm)

package client

import (
	"context"
	"fmt"
	"net/http"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// DialWebSocket connects with github.com/coder/websocket. (The js/wasm
// build has its own, over the browser's WebSocket: transport_js.go.)
func DialWebSocket(ctx context.Context, url string) (Transport, error) {
	return dialWebSocket(ctx, url, nil)
}

// WebSocketDialer connects as DialWebSocket does, through hc: e.g. a
// client whose transport reaches a server in the same process
// (syncserver/replica).
func WebSocketDialer(hc *http.Client) Dialer {
	return func(ctx context.Context, url string) (Transport, error) { return dialWebSocket(ctx, url, hc) }
}

func dialWebSocket(ctx context.Context, url string, hc *http.Client) (Transport, error) {
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{wire.Subprotocol}, HTTPClient: hc})
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

// closeStatus is the close code of a connection that ended with a close
// frame, or -1.
func closeStatus(err error) int { return int(websocket.CloseStatus(err)) }
