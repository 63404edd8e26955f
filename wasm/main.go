//go:build js && wasm

// Command wasm is Hearth's worker: compiled to hearth.wasm and started by
// web/hearth-worker.js inside a dedicated Web Worker. It only moves bytes:
// each request arrives as one Uint8Array, is copied into Go once and handed
// to the engine, which runs it on the goroutine owning the database; each
// reply is copied out once and transferred back with postMessage.
package main

import (
	"fmt"
	"os"

	"github.com/hack-pad/safejs"
	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/wasm/engine"
	"github.com/hearthdb/hearth/wasm/protocol"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "hearth worker:", err)
		os.Exit(1)
	}
	select {} // serve until the worker is terminated
}

func run() error {
	global := safejs.Global()
	uint8Array, err := global.Get("Uint8Array")
	if err != nil {
		return err
	}
	post := func(msg []byte) error {
		arr, err := uint8Array.New(len(msg))
		if err != nil {
			return err
		}
		if _, err := safejs.CopyBytesToJS(arr, msg); err != nil {
			return err
		}
		// The bootstrap's postMessage (hearth-worker-boot.js) routes the
		// message and transfers its buffer to the page (no copy); a
		// transfer list built here would be two more calls into JS and
		// garbage for the worker's collector, per message, for nothing.
		_, err = global.Call("postMessage", arr)
		return err
	}
	eng := engine.New(newBrowserStorage(), func(msg []byte) {
		if err := post(msg); err != nil {
			fmt.Fprintln(os.Stderr, "hearth worker: posting a reply failed:", err)
		}
	})
	eng.SetReplicaFetcher(fetchReplica)

	// receive runs inside the worker's onmessage callback, so it must not
	// block: SQL run here would deadlock the first time storage awaits a
	// promise. It copies the bytes and hands them to the engine, which
	// queues them for the database's owner goroutine.
	receive, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		msg, err := bytesOf(args, uint8Array)
		if err != nil {
			var enc codec.Encoder
			protocol.EncodeError(&enc, nil, protocol.Errorf(protocol.CodeBadRequest, "%v", err))
			post(enc.Bytes())
			return nil
		}
		eng.Receive(msg)
		return nil
	})
	if err != nil {
		return err
	}
	// The bootstrap queued messages that arrived while the module loaded;
	// registering flushes them, in order.
	_, err = global.Call("__hearthReady", receive.Value())
	return err
}

// bytesOf copies the message argument into Go.
func bytesOf(args []safejs.Value, uint8Array safejs.Value) ([]byte, error) {
	if len(args) == 0 {
		return nil, fmt.Errorf("empty message")
	}
	ok, err := args[0].InstanceOf(uint8Array)
	if err != nil || !ok {
		return nil, fmt.Errorf("a message must be a binary Uint8Array (see FORMAT.md), got %s", args[0].Type())
	}
	n, err := args[0].Length()
	if err != nil {
		return nil, err
	}
	msg := make([]byte, n)
	if _, err := safejs.CopyBytesToGo(msg, args[0]); err != nil {
		return nil, err
	}
	return msg, nil
}
