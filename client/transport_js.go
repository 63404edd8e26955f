//go:build js && wasm

package client

import (
	"fmt"

	"github.com/hack-pad/safejs"
)

// WorkerTransport runs a Hearth worker (web/hearth-worker.js) and exchanges
// binary messages with it by postMessage, transferring each buffer.
type WorkerTransport struct {
	worker     safejs.Value
	uint8Array safejs.Value
	onMessage  safejs.Func
	receive    func([]byte)
}

// NewWorkerTransport starts the worker at workerURL (e.g. "/hearth-worker.js").
func NewWorkerTransport(workerURL string) (*WorkerTransport, error) {
	global := safejs.Global()
	workerClass, err := global.Get("Worker")
	if err != nil {
		return nil, err
	}
	w, err := workerClass.New(workerURL, map[string]any{"type": "module", "name": "hearth"})
	if err != nil {
		return nil, fmt.Errorf("starting the Hearth worker %s: %w", workerURL, err)
	}
	return AdoptWorker(w)
}

// AdoptWorker speaks to a Hearth worker the page already started (a
// module Worker on web/hearth-worker.js). A page that starts the worker
// before its Go bundle has loaded overlaps the two downloads and
// compilations; the worker sends nothing until asked, so no message is
// lost before Go listens.
func AdoptWorker(w safejs.Value) (*WorkerTransport, error) {
	u8, err := safejs.Global().Get("Uint8Array")
	if err != nil {
		return nil, err
	}
	t := &WorkerTransport{worker: w, uint8Array: u8}
	t.onMessage, err = safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		if len(args) == 0 || t.receive == nil {
			return nil
		}
		data, err := args[0].Get("data")
		if err != nil {
			return nil
		}
		if ok, _ := data.InstanceOf(t.uint8Array); !ok {
			return nil // {hearthFatal}: surfaced by requests failing
		}
		n, err := data.Length()
		if err != nil {
			return nil
		}
		msg := make([]byte, n)
		if _, err := safejs.CopyBytesToGo(msg, data); err != nil {
			return nil
		}
		t.receive(msg)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := w.Set("onmessage", t.onMessage.Value()); err != nil {
		return nil, err
	}
	return t, nil
}

// Send implements Transport.
func (t *WorkerTransport) Send(msg []byte) error {
	arr, err := t.uint8Array.New(len(msg))
	if err != nil {
		return err
	}
	if _, err := safejs.CopyBytesToJS(arr, msg); err != nil {
		return err
	}
	buf, err := arr.Get("buffer")
	if err != nil {
		return err
	}
	_, err = t.worker.Call("postMessage", arr, []any{buf})
	return err
}

// Receive implements Transport.
func (t *WorkerTransport) Receive(fn func([]byte)) { t.receive = fn }

// Terminate stops the worker.
func (t *WorkerTransport) Terminate() {
	t.worker.Call("terminate")
	t.onMessage.Release()
}
