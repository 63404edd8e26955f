//go:build js && wasm

package main

import (
	"context"
	"fmt"
	"syscall/js"
	"time"

	"github.com/hack-pad/safejs"
	"github.com/hearthdb/hearth/client"
	"github.com/vugu/vugu"
)

// The board's few direct page calls, kept here so the rest of the package
// builds and tests natively. Failures are ignored on purpose: each call
// only improves the experience (focus, URL, notice) and has a fallback.

// watchOnline calls fn with navigator.onLine now and on every change.
func watchOnline(fn func(online bool)) (stop func()) {
	global := safejs.Global()
	read := func() bool {
		nav, err := global.Get("navigator")
		if err != nil {
			return true
		}
		v, err := nav.Get("onLine")
		if err != nil {
			return true
		}
		b, _ := v.Bool()
		return b
	}
	handler, err := safejs.FuncOf(func(safejs.Value, []safejs.Value) any {
		// The JS event handler must not block: report on a goroutine.
		online := read()
		go fn(online)
		return nil
	})
	if err != nil {
		fn(read())
		return func() {}
	}
	global.Call("addEventListener", "online", handler.Value())
	global.Call("addEventListener", "offline", handler.Value())
	fn(read())
	return func() {
		global.Call("removeEventListener", "online", handler.Value())
		global.Call("removeEventListener", "offline", handler.Value())
		handler.Release()
	}
}

// focusElement moves keyboard focus to the element with this id. An
// element that has it already is left alone: focus() makes the browser
// bring style and layout up to date at once (to know the element can take
// focus), about half of a card move's time before this check.
func focusElement(id string) {
	doc, err := safejs.Global().Get("document")
	if err != nil {
		return
	}
	el, err := doc.Call("getElementById", id)
	if err != nil || el.IsNull() || el.IsUndefined() {
		return
	}
	if active, err := doc.Get("activeElement"); err == nil && active.Equal(el) {
		return
	}
	el.Call("focus")
}

// locationHash is the page URL's fragment without '#'.
func locationHash() string {
	loc, err := safejs.Global().Get("location")
	if err != nil {
		return ""
	}
	h, err := loc.Get("hash")
	if err != nil {
		return ""
	}
	s, _ := h.String()
	if len(s) > 0 && s[0] == '#' {
		s = s[1:]
	}
	return s
}

// setLocationHash records the active project in the URL without a new
// history entry, so a reload opens the same project.
func setLocationHash(h string) {
	history, err := safejs.Global().Get("history")
	if err != nil {
		return
	}
	history.Call("replaceState", nil, "", "#"+h)
}

// queryParam is a parameter of the page URL's query string.
func queryParam(name string) string {
	global := safejs.Global()
	loc, err := global.Get("location")
	if err != nil {
		return ""
	}
	search, err := loc.Get("search")
	if err != nil {
		return ""
	}
	ctor, err := global.Get("URLSearchParams")
	if err != nil {
		return ""
	}
	params, err := ctor.New(search)
	if err != nil {
		return ""
	}
	v, err := params.Call("get", name)
	if err != nil || v.IsNull() {
		return ""
	}
	s, _ := v.String()
	return s
}

// markMilestone records a named moment on the page (performance.mark and
// window.boardMilestones) for tests and benchmarks to read.
func markMilestone(name string) {
	global := safejs.Global()
	if perf, err := global.Get("performance"); err == nil {
		perf.Call("mark", "board:"+name)
	}
	ms, err := global.Get("boardMilestones")
	if err != nil || ms.IsUndefined() {
		return
	}
	if perf, err := global.Get("performance"); err == nil {
		if now, err := perf.Call("now"); err == nil {
			ms.Set(name, now)
		}
	}
}

// dropSavedFrame removes the saved frame index.html painted (boot.js's
// hearthBoardDropSavedFrame) now that the board shows content of its own.
func dropSavedFrame() {
	if drop, err := safejs.Global().Get("hearthBoardDropSavedFrame"); err == nil && drop.Type() == safejs.TypeFunction {
		_, _ = drop.Invoke()
	}
}

// pageLocation is the page's protocol ("https:") and host ("example.com:8080").
func pageLocation() (protocol, host string) {
	loc, err := safejs.Global().Get("location")
	if err != nil {
		return "http:", "localhost"
	}
	p, _ := loc.Get("protocol")
	h, _ := loc.Get("host")
	protocol, _ = p.String()
	host, _ = h.String()
	return protocol, host
}

// formValues reads the named controls of the form an event came from.
// The editor reads its fields once, on submit, rather than on every
// keystroke: typing then costs no Go work and no re-render.
func formValues(e vugu.DOMEvent, names ...string) map[string]string {
	out := make(map[string]string, len(names))
	form := e.JSEventTarget()
	if form.IsUndefined() || form.IsNull() {
		return out
	}
	if form.Get("form").Truthy() { // a control inside the form, not the form
		form = form.Get("form")
	}
	elements := form.Get("elements")
	for _, name := range names {
		if el := elements.Get(name); el.Truthy() {
			out[name] = el.Get("value").String()
		}
	}
	return out
}

// recordRender keeps the last and the longest build+render time and the
// number of renders in window.boardMilestones (renderMs, maxRenderMs,
// renders) for benchmarks.
func recordRender(d time.Duration) {
	ms, err := safejs.Global().Get("boardMilestones")
	if err != nil || ms.IsUndefined() {
		return
	}
	v := float64(d.Microseconds()) / 1000
	ms.Set("renderMs", v)
	if n, err := ms.Get("renders"); err == nil {
		f, _ := n.Float() // undefined: 0
		ms.Set("renders", f+1)
	}
	if prev, err := ms.Get("maxRenderMs"); err == nil {
		if p, err := prev.Float(); err == nil && p >= v {
			return
		}
	}
	ms.Set("maxRenderMs", v)
}

// demoToken waits for the sync token boot.js fetches (first call) or
// fetches a new one.
func demoToken(ctx context.Context, fresh bool) tokenReply {
	global := safejs.Global()
	var promise safejs.Value
	var err error
	if fresh {
		promise, err = global.Call("hearthBoardFetchToken")
	} else {
		promise, err = global.Get("hearthBoardToken")
	}
	if err != nil || promise.IsUndefined() {
		return tokenReply{}
	}
	got := make(chan tokenReply, 1)
	then, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		t := tokenReply{unreachable: true}
		if len(args) > 0 && !args[0].IsNull() && !args[0].IsUndefined() {
			t.unreachable = false
			if v, err := args[0].Get("token"); err == nil {
				t.value, _ = v.String()
			}
			if v, err := args[0].Get("expiresIn"); err == nil {
				f, _ := v.Float()
				t.expiresIn = int64(f)
			}
		}
		got <- t
		return nil
	})
	if err != nil {
		return tokenReply{}
	}
	defer then.Release()
	if _, err := promise.Call("then", then.Value()); err != nil {
		return tokenReply{}
	}
	select {
	case t := <-got:
		return t
	case <-ctx.Done():
		return tokenReply{}
	}
}

// exposeAsync defines globalThis[name] as a function returning a Promise
// of what get returns; get runs on its own goroutine (a JS callback must
// not block on the worker).
func exposeAsync(name string, get func(ctx context.Context) map[string]any) {
	promise := js.Global().Get("Promise")
	fn := js.FuncOf(func(js.Value, []js.Value) any {
		var resolve js.Value
		executor := js.FuncOf(func(_ js.Value, args []js.Value) any {
			resolve = args[0]
			return nil
		})
		p := promise.New(executor) // the executor runs before New returns
		executor.Release()
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			resolve.Invoke(js.ValueOf(get(ctx)))
		}()
		return p
	})
	js.Global().Set(name, fn) // kept for the page's life
}

// navigatorOnline is navigator.onLine (true when unknown).
func navigatorOnline() bool {
	v := js.Global().Get("navigator").Get("onLine")
	return v.Type() != js.TypeBoolean || v.Bool()
}

// signedInUser is the demo user boot.js signed in as (?user=…), "" when unknown.
func signedInUser() string {
	if v := js.Global().Get("hearthBoardUser"); v.Type() == js.TypeString {
		return v.String()
	}
	return ""
}

// switchUser reloads the page signed in as user (boot.js fetches that
// user's sync token), keeping the other query parameters.
func switchUser(user string) {
	loc := js.Global().Get("location")
	params := js.Global().Get("URLSearchParams").New(loc.Get("search"))
	params.Call("set", "user", user)
	loc.Set("search", "?"+params.Call("toString").String())
}

// cachedResult is the last result of sql the board saved in the page's
// result cache (boot.js's hearthBoardCache over hearth.js), ok false when
// there is none or it cannot be read.
func cachedResult(ctx context.Context, db, scope, sql string, params []any) (r client.Result, ok bool) {
	cache := js.Global().Get("hearthBoardCache")
	if cache.Type() != js.TypeObject {
		return r, false
	}
	got := make(chan js.Value, 2)
	then := js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) > 0 {
			got <- args[0]
		} else {
			got <- js.Null()
		}
		return nil
	})
	defer then.Release()
	fail := js.FuncOf(func(js.Value, []js.Value) any {
		got <- js.Null()
		return nil
	})
	defer fail.Release()
	cache.Call("read", db, scope, sql, jsValues(params)).Call("then", then, fail)
	var v js.Value
	select {
	case v = <-got:
	case <-ctx.Done():
		return r, false
	}
	if v.Type() != js.TypeObject {
		return r, false
	}
	defer func() {
		// A result of an unexpected shape (another version's) is no result.
		if recover() != nil {
			r, ok = client.Result{}, false
		}
	}()
	cols, rows := v.Get("columns"), v.Get("rows")
	r.Columns = make([]string, cols.Length())
	for i := range r.Columns {
		r.Columns[i] = cols.Index(i).String()
	}
	r.Rows = make([][]any, rows.Length())
	for i := range r.Rows {
		row := rows.Index(i)
		out := make([]any, row.Length())
		for j := range out {
			switch x := row.Index(j); x.Type() {
			case js.TypeNumber:
				f := x.Float()
				if f == float64(int64(f)) {
					out[j] = int64(f)
				} else {
					out[j] = f
				}
			case js.TypeString:
				out[j] = x.String()
			}
		}
		r.Rows[i] = out
	}
	return r, true
}

// saveResult keeps r as the last result of sql in the page's result cache.
func saveResult(db, scope, sql string, params []any, r client.Result) {
	cache := js.Global().Get("hearthBoardCache")
	if cache.Type() != js.TypeObject {
		return
	}
	cols := make([]any, len(r.Columns))
	for i, c := range r.Columns {
		cols[i] = c
	}
	rows := make([]any, len(r.Rows))
	for i, row := range r.Rows {
		rows[i] = jsValues(row)
	}
	cache.Call("save", db, scope, sql, jsValues(params), cols, rows)
}

// jsValues is a row or parameter list as js.ValueOf takes it: the board's
// values are integers, floats, text and NULL (bytes are not kept).
func jsValues(values []any) []any {
	out := make([]any, len(values))
	for i, v := range values {
		switch x := v.(type) {
		case int64:
			out[i] = float64(x)
		case float64, string, nil:
			out[i] = x
		case bool:
			out[i] = x
		default:
			out[i] = nil
		}
	}
	return out
}

// exposeInput defines hearthBoardKey(key, targetID, tagName, alt, ctrl,
// meta) → handled, hearthBoardAction(taskID, action) → handled and
// hearthBoardFocus(cardID) for boot.js's keyboard, card click and focus
// listeners. Each runs with the render lock held and asks for a
// render only when it changed something.
func exposeInput(c *Root) {
	js.Global().Set("hearthBoardKey", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) < 6 {
			return false
		}
		c.env.Lock()
		handled := c.HandleKey(args[0].String(), args[1].String(), args[2].String(), args[3].Truthy(), args[4].Truthy(), args[5].Truthy())
		c.unlockAfter(handled)
		return handled
	})) // kept for the page's life
	js.Global().Set("hearthBoardAction", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) < 2 {
			return false
		}
		c.env.Lock()
		handled := c.CardAction(args[0].String(), args[1].String())
		c.unlockAfter(handled)
		return handled
	}))
	js.Global().Set("hearthBoardFocus", js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) < 1 {
			return nil
		}
		c.env.Lock()
		if c.FocusCard(args[0].String()) {
			c.env.UnlockRender()
		} else {
			c.env.UnlockOnly()
		}
		return nil
	}))
}

// unlockAfter releases the render lock after an input event, asking for a
// render when the event changed something that is not drawn yet.
func (c *Root) unlockAfter(changed bool) {
	if changed && !c.takeDrawn() {
		c.env.UnlockRender()
	} else {
		c.env.UnlockOnly()
	}
}

// patchCardMove draws a card move through boot.js's hearthBoardPatchMove
// (movepatch.go); false when the page could not apply it.
func patchCardMove(m cardMove) bool {
	fn := js.Global().Get("hearthBoardPatchMove")
	if fn.Type() != js.TypeFunction {
		return false
	}
	counts := make([]any, len(m.Counts))
	for i, n := range m.Counts {
		counts[i] = n
	}
	var actions any // null: no action buttons
	if m.Actions != nil {
		a := make(map[string]any, len(m.Actions))
		for k, v := range m.Actions {
			a[k] = v
		}
		actions = a
	}
	return fn.Invoke(m.ID, m.Status, m.Index, m.Label, counts, actions).Truthy()
}

// patchTexts sets the text of page elements by id and the online pill's
// data-on through boot.js's hearthBoardPatchTexts; false when the page
// could not apply it.
func patchTexts(texts map[string]string, online bool) bool {
	fn := js.Global().Get("hearthBoardPatchTexts")
	if fn.Type() != js.TypeFunction {
		return false
	}
	t := make(map[string]any, len(texts))
	for id, text := range texts {
		t[id] = text
	}
	return fn.Invoke(t, fmt.Sprint(online)).Truthy()
}

// afterNextPaint returns once the page has shown its next frame (boot.js's
// hearthBoardAfterPaint: a task after the next animation frame, at most
// 100 ms: a hidden page shows none), or at once without it.
func afterNextPaint(ctx context.Context) {
	fn := js.Global().Get("hearthBoardAfterPaint")
	if fn.Type() != js.TypeFunction {
		return
	}
	done := make(chan struct{})
	then := js.FuncOf(func(js.Value, []js.Value) any {
		close(done)
		return nil
	})
	defer then.Release()
	fn.Invoke().Call("then", then)
	select {
	case <-done:
	case <-ctx.Done():
	}
}
