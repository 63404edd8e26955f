//go:build js && wasm

package browserws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/hack-pad/safejs"
)

// These tests run under Node (make test-go runs them through
// go_js_wasm_exec with --experimental-websocket on Node 20), whose
// WebSocket is the WHATWG one browsers have. The peer is a minimal
// WebSocket server in Node's http module on 127.0.0.1 that obeys
// commands sent as binary messages:
//
//	echo:X          replies X as a binary message
//	text            replies a text message
//	big:N           replies N bytes
//	close:CODE:WHY  sends a close frame with CODE and WHY
const testServerJS = `
const http = require('http'), crypto = require('crypto');
return function start(ready) {
  const server = http.createServer();
  server.on('upgrade', (req, sock) => {
    const accept = crypto.createHash('sha1')
      .update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    const proto = (req.headers['sec-websocket-protocol'] || '').split(',')[0].trim();
    sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Accept: ' + accept + '\r\n' + (proto ? 'Sec-WebSocket-Protocol: ' + proto + '\r\n' : '') + '\r\n');
    const send = (op, payload) => {
      let hdr;
      if (payload.length < 126) hdr = Buffer.from([0x80 | op, payload.length]);
      else if (payload.length < 65536) { hdr = Buffer.alloc(4); hdr[0] = 0x80 | op; hdr[1] = 126; hdr.writeUInt16BE(payload.length, 2); }
      else { hdr = Buffer.alloc(10); hdr[0] = 0x80 | op; hdr[1] = 127; hdr.writeBigUInt64BE(BigInt(payload.length), 2); }
      sock.write(Buffer.concat([hdr, payload]));
    };
    const closeWith = (code, why) => {
      const p = Buffer.alloc(2 + Buffer.byteLength(why)); p.writeUInt16BE(code, 0); p.write(why, 2);
      send(8, p); sock.end();
    };
    let buf = Buffer.alloc(0);
    sock.on('error', () => {});
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (buf.length < 2) return;
        const op = buf[0] & 0x0f; let len = buf[1] & 0x7f, off = 2;
        if (len === 126) { if (buf.length < 4) return; len = buf.readUInt16BE(2); off = 4; }
        else if (len === 127) { if (buf.length < 10) return; len = Number(buf.readBigUInt64BE(2)); off = 10; }
        if (buf.length < off + 4 + len) return;
        const mask = buf.subarray(off, off + 4), payload = Buffer.from(buf.subarray(off + 4, off + 4 + len));
        for (let i = 0; i < len; i++) payload[i] ^= mask[i % 4];
        buf = buf.subarray(off + 4 + len);
        if (op === 8) { send(8, payload.subarray(0, 2)); sock.end(); return; }
        const cmd = payload.toString();
        if (cmd.startsWith('echo:')) send(2, payload.subarray(5));
        else if (cmd === 'text') send(1, Buffer.from('hello'));
        else if (cmd.startsWith('big:')) send(2, Buffer.alloc(Number(cmd.slice(4)), 7));
        else if (cmd.startsWith('close:')) { const [, code, why] = cmd.split(':'); closeWith(Number(code), why); return; }
      }
    });
  });
  server.listen(0, '127.0.0.1', () => ready(server.address().port));
  return server;
};`

// startServer starts the test server and returns its ws:// URL.
func startServer(t *testing.T) string {
	t.Helper()
	if ws, _ := safejs.Global().Get("WebSocket"); ws.IsUndefined() {
		t.Fatal("no WebSocket in this JS runtime (Node 20 needs NODE_OPTIONS=--experimental-websocket)")
	}
	fn, err := safejs.Global().Get("Function")
	if err != nil {
		t.Fatal(err)
	}
	factory, err := fn.New(testServerJS)
	if err != nil {
		t.Fatal(err)
	}
	start, err := factory.Invoke()
	if err != nil {
		t.Fatal(err)
	}
	ports := make(chan int, 1)
	ready, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		port, _ := args[0].Int()
		ports <- port
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	server, err := start.Invoke(ready.Value())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		server.Call("close")
		ready.Release()
	})
	select {
	case port := <-ports:
		return fmt.Sprintf("ws://127.0.0.1:%d/sync", port)
	case <-time.After(10 * time.Second):
		t.Fatal("the test server did not start")
		return ""
	}
}

func dial(t *testing.T, url string, readLimit int) (*Conn, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	c, err := Dial(ctx, url, []string{"hearth-test"}, readLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, ctx
}

func TestEchoBinary(t *testing.T) {
	c, ctx := dial(t, startServer(t), 1<<20)
	for _, msg := range [][]byte{[]byte("echo:a"), append([]byte("echo:"), bytes.Repeat([]byte{0, 1, 2, 255}, 50000)...)} {
		if err := c.Write(ctx, msg); err != nil {
			t.Fatal(err)
		}
		got, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, msg[5:]) {
			t.Fatalf("echo of %d bytes came back as %d bytes", len(msg)-5, len(got))
		}
	}
}

func TestTextFrameIsAnErrorAndTheConnectionStays(t *testing.T) {
	c, ctx := dial(t, startServer(t), 1<<20)
	if err := c.Write(ctx, []byte("text")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(ctx); !errors.Is(err, ErrTextFrame) {
		t.Fatalf("a text message read as %v, want ErrTextFrame", err)
	}
	if err := c.Write(ctx, []byte("echo:still")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Read(ctx); err != nil || string(got) != "still" {
		t.Fatalf("after the text message: %q, %v", got, err)
	}
}

func TestPeerCloseCodeAndReason(t *testing.T) {
	c, ctx := dial(t, startServer(t), 1<<20)
	// A message sent before the close frame is read before the close.
	if err := c.Write(ctx, []byte("echo:first")); err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, []byte("close:1008:schema mismatch")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Read(ctx); err != nil || string(got) != "first" {
		t.Fatalf("first read: %q, %v", got, err)
	}
	_, err := c.Read(ctx)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != 1008 || ce.Reason != "schema mismatch" {
		t.Fatalf("read after the peer's close: %v, want a CloseError 1008 \"schema mismatch\"", err)
	}
	if err := c.Write(ctx, []byte("echo:late")); !errors.As(err, &ce) {
		t.Fatalf("write after close: %v, want the CloseError", err)
	}
}

func TestReadLimit(t *testing.T) {
	c, ctx := dial(t, startServer(t), 1000)
	if err := c.Write(ctx, []byte("big:1000")); err != nil {
		t.Fatal(err)
	}
	if got, err := c.Read(ctx); err != nil || len(got) != 1000 {
		t.Fatalf("a message at the limit: %d bytes, %v", len(got), err)
	}
	if err := c.Write(ctx, []byte("big:1001")); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(ctx)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusMessageTooBig {
		t.Fatalf("a message over the limit: %v, want a CloseError %d", err, StatusMessageTooBig)
	}
}

func TestReadHonoursContext(t *testing.T) {
	c, _ := dial(t, startServer(t), 1<<20)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("read with a cancelled context: %v", err)
	}
}

func TestGracefulClose(t *testing.T) {
	c, ctx := dial(t, startServer(t), 1<<20)
	if err := c.Close("client closing"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Read(ctx)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusNormalClosure {
		t.Fatalf("read after Close: %v, want a CloseError 1000", err)
	}
}

func TestDialRefused(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Port 1 on loopback: nothing listens there.
	_, err := Dial(ctx, "http://127.0.0.1:1/sync", nil, 1<<20)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != StatusAbnormalClosure {
		t.Fatalf("dial to a closed port: %v, want a CloseError %d", err, StatusAbnormalClosure)
	}
}
