//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/hack-pad/safejs"
	"github.com/hearthdb/hearth/sqlitevfs/browser"
	"github.com/hearthdb/hearth/wasm/engine"
)

// fetchReplica is the worker's engine.ReplicaFetcher: the browser's fetch,
// aborted when ctx ends, its body read as it streams in (for progress, and
// so that only the Go copy grows). The browser decodes the response's
// gzip. It asks through the worker's hearthFetchReplica
// (web/hearth-head-start.js), which answers with the head start the
// bootstrap began for this download before Go ran, if it did.
func fetchReplica(ctx context.Context, url, token string, progress func(received, total int64)) (engine.ReplicaFile, error) {
	data, headStart, err := fetchReplicaBytes(ctx, url, token, progress)
	return engine.ReplicaFile{Data: data, HeadStart: headStart}, err
}

func fetchReplicaBytes(ctx context.Context, url, token string, progress func(received, total int64)) ([]byte, bool, error) {
	global := safejs.Global()
	abortCtor, err := global.Get("AbortController")
	if err != nil {
		return nil, false, err
	}
	abort, err := abortCtor.New()
	if err != nil {
		return nil, false, err
	}
	signal, err := abort.Get("signal")
	if err != nil {
		return nil, false, err
	}
	objectCtor, err := global.Get("Object")
	if err != nil {
		return nil, false, err
	}
	init, err := objectCtor.New()
	if err != nil {
		return nil, false, err
	}
	headers := map[string]any{}
	if token != "" {
		headers["Authorization"] = "Bearer " + token
	}
	for k, v := range map[string]any{"headers": headers, "cache": "no-store", "signal": signal} {
		if err := init.Set(k, v); err != nil {
			return nil, false, err
		}
	}
	stop := context.AfterFunc(ctx, func() { abort.Call("abort") })
	defer stop()

	fetch := "fetch"
	if v, err := global.Get("hearthFetchReplica"); err == nil && v.Type() == safejs.TypeFunction {
		fetch = "hearthFetchReplica"
	}
	promise, err := global.Call(fetch, url, init)
	if err != nil {
		return nil, false, err
	}
	resp, err := browser.Await(promise)
	if err != nil {
		return nil, false, err
	}
	status, err := intProp(resp, "status")
	if err != nil {
		return nil, false, err
	}
	headStart, _ := boolProp(resp, "hearthHeadStart")
	if status != 200 {
		// The body is {code, message}, read by the browser's JSON parser:
		// Go's encoding/json would add ~100 KB (brotli) to the worker.
		// A body that is something else leaves the status alone.
		refusal := &engine.ReplicaRefusal{Status: status}
		if p, err := resp.Call("json"); err == nil {
			if body, err := browser.Await(p); err == nil && body.Type() == safejs.TypeObject {
				refusal.Code = textProp(body, "code")
				refusal.Message = textProp(body, "message")
			}
		}
		return nil, false, refusal
	}
	size := -1
	if hs, err := resp.Get("headers"); err == nil {
		if v, err := hs.Call("get", engine.ReplicaSizeHeader); err == nil && !v.IsNull() {
			if s, err := v.String(); err == nil {
				size, _ = strconv.Atoi(s)
			}
		}
	}
	total := int64(max(size, 0))
	progress(0, total) // the server answered: from here the stall bound applies
	data := make([]byte, 0, total)
	body, err := resp.Get("body")
	if err != nil {
		return nil, false, err
	}
	reader, err := body.Call("getReader")
	if err != nil {
		return nil, false, err
	}
	for {
		p, err := reader.Call("read")
		if err != nil {
			return nil, false, err
		}
		part, err := browser.Await(p)
		if err != nil {
			return nil, false, err
		}
		if done, err := boolProp(part, "done"); err != nil || done {
			if err != nil {
				return nil, false, err
			}
			break
		}
		chunk, err := part.Get("value")
		if err != nil {
			return nil, false, err
		}
		n, err := chunk.Length()
		if err != nil {
			return nil, false, err
		}
		limit := int64(engine.MaxReplicaBytes)
		if size >= 0 {
			limit = int64(size)
		}
		if int64(len(data)+n) > limit {
			return nil, false, fmt.Errorf("the server sent more than %d bytes", limit)
		}
		data = slices.Grow(data, n)[:len(data)+n]
		if _, err := safejs.CopyBytesToGo(data[len(data)-n:], chunk); err != nil {
			return nil, false, err
		}
		progress(int64(len(data)), total)
	}
	if size >= 0 && len(data) != size {
		return nil, false, fmt.Errorf("received %d bytes of the %d the server sent", len(data), size)
	}
	return data, headStart, nil
}

// textProp is v's property name if it is text, else "".
func textProp(v safejs.Value, name string) string {
	p, err := v.Get(name)
	if err != nil || p.Type() != safejs.TypeString {
		return ""
	}
	s, _ := p.String()
	return s
}

func boolProp(v safejs.Value, name string) (bool, error) {
	p, err := v.Get(name)
	if err != nil {
		return false, err
	}
	return p.Bool()
}

func intProp(v safejs.Value, name string) (int, error) {
	p, err := v.Get(name)
	if err != nil {
		return 0, err
	}
	return p.Int()
}
