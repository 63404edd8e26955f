//go:build !(js && wasm)

package main

import (
	"context"

	"github.com/hearthdb/hearth/client"
	"github.com/vugu/vugu"
)

// Native stand-ins for the page calls in browser_js.go, so the board's
// logic builds and tests without a browser.

func watchOnline(fn func(online bool)) (stop func()) { fn(true); return func() {} }
func focusElement(id string)                         {}
func locationHash() string                           { return "" }
func setLocationHash(h string)                       {}
func markMilestone(name string)                      {}
func dropSavedFrame()                                {}

func formValues(e vugu.DOMEvent, names ...string) map[string]string { return nil }

func demoToken(ctx context.Context, fresh bool) tokenReply { return tokenReply{} }

//lint:ignore U1000 root.go calls it natively, from code only the js/wasm build uses.
func navigatorOnline() bool { return true }

func switchUser(user string) {}

func afterNextPaint(ctx context.Context) {}

func cachedResult(ctx context.Context, db, scope, sql string, params []any) (client.Result, bool) {
	return client.Result{}, false
}
func saveResult(db, scope, sql string, params []any, r client.Result) {}
