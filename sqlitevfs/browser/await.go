//go:build js && wasm

// Package browser implements sqlitevfs's storage interfaces on the
// browser's durable storage: OPFS sync access handles (FileStore) and
// IndexedDB (BlockStore). The promise-returning halves live in
// web/hearth-storage.js, installed by the worker as globalThis.hearthStorage;
// this package awaits them from the goroutine that owns the database.
//
// The rule that keeps awaiting deadlock-free: never await on the goroutine
// that is running a js.FuncOf callback (onmessage, a promise reaction). The
// worker's onmessage only queues requests; database goroutines do the
// awaiting, and while one is parked on a channel the Go scheduler returns to
// the JS event loop, which settles the promise and wakes it.
package browser

import (
	"errors"
	"fmt"
	"syscall/js"

	"github.com/hack-pad/safejs"
)

// JSError is a rejected promise or a thrown exception, with the JS error's
// name (e.g. QuotaExceededError, NotFoundError) kept for classification.
type JSError struct {
	Name    string
	Message string
}

func (e *JSError) Error() string { return e.Name + ": " + e.Message }

// jsErrorOf describes a JS error value.
func jsErrorOf(v js.Value) *JSError {
	if v.Type() != js.TypeObject {
		return &JSError{Name: "Error", Message: v.String()}
	}
	name, msg := v.Get("name"), v.Get("message")
	e := &JSError{Name: "Error", Message: v.Call("toString").String()}
	if name.Type() == js.TypeString {
		e.Name = name.String()
	}
	if msg.Type() == js.TypeString {
		e.Message = msg.String()
	}
	return e
}

// asJSError turns an error from safejs (a thrown exception) into a *JSError
// when it carries a JS value.
func asJSError(err error) error {
	if err == nil {
		return nil
	}
	var jerr js.Error
	if errors.As(err, &jerr) {
		return jsErrorOf(jerr.Value)
	}
	return err
}

type settled struct {
	value js.Value
	err   error
}

// Await blocks the calling goroutine until promise settles; a rejection
// is a *JSError. It must not be called from inside a js.FuncOf callback.
// The worker's other awaits (its fetch of a replica file) use it too.
func Await(promise safejs.Value) (safejs.Value, error) {
	v, err := await(safejs.Unsafe(promise))
	return safejs.Safe(v), err
}

// await blocks the calling goroutine until promise settles. It must not be
// called from inside a js.FuncOf callback.
func await(promise js.Value) (js.Value, error) {
	ch := make(chan settled, 1)
	onResolve := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- settled{value: arg0(args)}
		return nil
	})
	onReject := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- settled{err: jsErrorOf(arg0(args))}
		return nil
	})
	defer onResolve.Release()
	defer onReject.Release()
	promise.Call("then", onResolve, onReject)
	r := <-ch
	return r.value, r.err
}

func arg0(args []js.Value) js.Value {
	if len(args) == 0 {
		return js.Undefined()
	}
	return args[0]
}

// glue is globalThis.hearthStorage (web/hearth-storage.js).
func glue() (js.Value, error) {
	g := js.Global().Get("hearthStorage")
	if g.Type() != js.TypeObject {
		return js.Value{}, errors.New("globalThis.hearthStorage is missing: the worker must import hearth-storage.js")
	}
	return g, nil
}

// call invokes a glue function and awaits its promise. A synchronous throw
// and a rejection both come back as *JSError.
func call(method string, args ...any) (js.Value, error) {
	g, err := glue()
	if err != nil {
		return js.Value{}, err
	}
	p, err := safejs.Safe(g).Call(method, args...)
	if err != nil {
		return js.Value{}, fmt.Errorf("%s: %w", method, asJSError(err))
	}
	v, err := await(safejs.Unsafe(p))
	if err != nil {
		return js.Value{}, fmt.Errorf("%s: %w", method, err)
	}
	return v, nil
}

// isName reports whether err is a JS error with the given name.
func isName(err error, name string) bool {
	var jerr *JSError
	return errors.As(err, &jerr) && jerr.Name == name
}
