//go:build js && wasm

package browserws

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hack-pad/safejs"
)

// Close codes of RFC 6455 that this package reports itself.
const (
	// StatusNormalClosure is the only code below 3000 a browser lets a
	// page send.
	StatusNormalClosure = 1000
	// StatusAbnormalClosure is what the browser reports when the
	// connection ended without a close frame (or never opened).
	StatusAbnormalClosure = 1006
	// StatusMessageTooBig is reported for a message over the read limit.
	StatusMessageTooBig = 1009
)

// CloseError is the end of the connection as the browser's close event
// told it: the peer's close code and reason, or 1006 when there was no
// close frame.
type CloseError struct {
	Code     int
	Reason   string
	WasClean bool
}

func (e *CloseError) Error() string {
	if e.Reason == "" {
		return fmt.Sprintf("websocket closed with status %d", e.Code)
	}
	return fmt.Sprintf("websocket closed with status %d: %s", e.Code, e.Reason)
}

// ErrTextFrame is a text message where binary ones are expected; the
// connection stays open.
var ErrTextFrame = errors.New("browserws: a text message")

// sendHighWater bounds the bytes the browser may hold unsent: Write
// waits while more is buffered, so a slow network slows the writer
// instead of growing the worker's memory.
const sendHighWater = 1 << 20

// drainPoll is how often a waiting Write looks at bufferedAmount again
// (the browser has no event for it draining).
const drainPoll = 5 * time.Millisecond

// closeWait bounds how long a graceful Close waits for the peer's close.
const closeWait = 5 * time.Second

// Conn is one browser WebSocket carrying binary messages.
type Conn struct {
	ws         safejs.Value
	uint8Array safejs.Value
	readLimit  int
	funcs      []safejs.Func

	mu     sync.Mutex
	queue  []message
	signal chan struct{} // a message was queued (capacity 1)
	closed chan struct{} // closed once the close event arrived
	err    *CloseError   // set before closed is closed
}

type message struct {
	data []byte
	err  error
}

// Dial opens a WebSocket to url (http and https URLs are turned into ws
// and wss) offering protocols, and waits until it is open or ctx is done.
// Messages over readLimit bytes are refused: the connection is closed
// and Read reports a CloseError with StatusMessageTooBig.
func Dial(ctx context.Context, url string, protocols []string, readLimit int) (*Conn, error) {
	if after, ok := strings.CutPrefix(url, "http://"); ok {
		url = "ws://" + after
	} else if after, ok := strings.CutPrefix(url, "https://"); ok {
		url = "wss://" + after
	}
	global := safejs.Global()
	// The Hearth worker's bootstrap installs hearthWebSocket
	// (web/hearth-socket.js): the same interface, with the connection in
	// a relay worker that reads messages while this thread is busy.
	// Elsewhere (Node, a page) it is the browser's own.
	ctor, err := global.Get("hearthWebSocket")
	if err != nil {
		return nil, err
	}
	if ctor.IsUndefined() {
		if ctor, err = global.Get("WebSocket"); err != nil {
			return nil, err
		}
	}
	u8, err := global.Get("Uint8Array")
	if err != nil {
		return nil, err
	}
	protos := make([]any, len(protocols))
	for i, p := range protocols {
		protos[i] = p
	}
	ws, err := ctor.New(url, protos)
	if err != nil {
		return nil, fmt.Errorf("browserws: new WebSocket(%q): %w", url, err)
	}
	c := &Conn{ws: ws, uint8Array: u8, readLimit: readLimit, signal: make(chan struct{}, 1), closed: make(chan struct{})}
	opened := make(chan struct{})
	if err := c.listen(opened); err != nil {
		ws.Call("close")
		return nil, err
	}
	select {
	case <-opened:
		return c, nil
	case <-c.closed:
		return nil, fmt.Errorf("browserws: connect to %s: %w", url, c.err)
	case <-ctx.Done():
		// Closing a connecting socket fails it; its close event then
		// releases the callbacks.
		ws.Call("close")
		return nil, ctx.Err()
	}
}

// listen installs the socket's event handlers.
func (c *Conn) listen(opened chan struct{}) error {
	if err := c.ws.Set("binaryType", "arraybuffer"); err != nil {
		return err
	}
	handlers := []struct {
		event string
		fn    func(ev safejs.Value)
	}{
		{"onopen", func(safejs.Value) {
			select {
			case <-opened:
			default:
				close(opened)
			}
		}},
		{"onmessage", c.onMessage},
		{"onerror", c.onError},
		{"onclose", c.onClose},
	}
	for _, h := range handlers {
		fn, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
			if len(args) > 0 {
				h.fn(args[0])
			}
			return nil
		})
		if err != nil {
			c.release()
			return err
		}
		c.funcs = append(c.funcs, fn)
		if err := c.ws.Set(h.event, fn.Value()); err != nil {
			c.release()
			return err
		}
	}
	return nil
}

// onMessage copies the message into Go and queues it. It runs inside the
// browser's event callback, so it must not block.
func (c *Conn) onMessage(ev safejs.Value) {
	m := c.receive(ev)
	c.mu.Lock()
	c.queue = append(c.queue, m)
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

func (c *Conn) receive(ev safejs.Value) message {
	data, err := ev.Get("data")
	if err != nil {
		return message{err: err}
	}
	if data.Type() == safejs.TypeString {
		return message{err: ErrTextFrame}
	}
	n, err := lengthOf(data)
	if err != nil {
		return message{err: err}
	}
	if n > c.readLimit {
		reason := fmt.Sprintf("a message of %d bytes is over the %d-byte limit", n, c.readLimit)
		// Browsers let a page close only with 1000 or 3000-4999.
		c.ws.Call("close", StatusNormalClosure, "message too big")
		return message{err: &CloseError{Code: StatusMessageTooBig, Reason: reason}}
	}
	view, err := c.uint8Array.New(data)
	if err != nil {
		return message{err: err}
	}
	b := make([]byte, n)
	if _, err := safejs.CopyBytesToGo(b, view); err != nil {
		return message{err: err}
	}
	return message{data: b}
}

func lengthOf(buf safejs.Value) (int, error) {
	v, err := buf.Get("byteLength")
	if err != nil {
		return 0, err
	}
	return v.Int()
}

// onError ends the connection as abnormally closed. Browsers follow an
// error event with a close event, which then finds the connection ended;
// a runtime that does not (Node 20's WebSocket after a refused
// connection) still gets a Dial or Read that returns.
func (c *Conn) onError(safejs.Value) {
	c.finish(&CloseError{Code: StatusAbnormalClosure, Reason: "connection failed"})
}

func (c *Conn) finish(ce *CloseError) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = ce
		close(c.closed)
	}
}

func (c *Conn) onClose(ev safejs.Value) {
	ce := &CloseError{Code: StatusAbnormalClosure}
	if v, err := ev.Get("code"); err == nil {
		if code, err := v.Int(); err == nil {
			ce.Code = code
		}
	}
	if v, err := ev.Get("reason"); err == nil {
		ce.Reason, _ = v.String()
	}
	if v, err := ev.Get("wasClean"); err == nil {
		ce.WasClean, _ = v.Bool()
	}
	c.finish(ce)
	// No event follows the close event: the callbacks can go.
	c.release()
}

func (c *Conn) release() {
	for _, h := range []string{"onopen", "onmessage", "onerror", "onclose"} {
		c.ws.Set(h, nil)
	}
	for _, fn := range c.funcs {
		fn.Release()
	}
	c.funcs = nil
}

// Read returns the next message. Messages that arrived before the
// connection closed are returned first; then the *CloseError. A text
// message returns ErrTextFrame.
func (c *Conn) Read(ctx context.Context) ([]byte, error) {
	for {
		c.mu.Lock()
		if len(c.queue) > 0 {
			m := c.queue[0]
			c.queue[0] = message{}
			c.queue = c.queue[1:]
			c.mu.Unlock()
			return m.data, m.err
		}
		err := c.err
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-c.signal:
		case <-c.closed:
		}
	}
}

// Write sends msg as one binary message. While the browser holds more
// than sendHighWater bytes unsent it waits, until ctx is done.
func (c *Conn) Write(ctx context.Context, msg []byte) error {
	for {
		select {
		case <-c.closed:
			return fmt.Errorf("browserws: send: %w", c.err)
		default:
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		v, err := c.ws.Get("bufferedAmount")
		if err != nil {
			return err
		}
		buffered, err := v.Int()
		if err != nil {
			return err
		}
		if buffered <= sendHighWater {
			break
		}
		t := time.NewTimer(drainPoll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-c.closed:
			t.Stop()
		case <-t.C:
		}
	}
	arr, err := c.uint8Array.New(len(msg))
	if err != nil {
		return err
	}
	if _, err := safejs.CopyBytesToJS(arr, msg); err != nil {
		return err
	}
	_, err = c.ws.Call("send", arr)
	return err
}

// Close closes the connection with a normal closure and reason, and
// waits (up to 5 s) for the peer's close frame.
func (c *Conn) Close(reason string) error {
	if _, err := c.ws.Call("close", StatusNormalClosure, reason); err != nil {
		return err
	}
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-c.closed:
		return nil
	case <-t.C:
		return errors.New("browserws: no close frame from the peer")
	}
}

// CloseNow closes the connection without waiting for the peer.
func (c *Conn) CloseNow() error {
	_, err := c.ws.Call("close", StatusNormalClosure, "")
	return err
}
