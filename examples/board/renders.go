package main

import (
	"sync/atomic"

	"github.com/vugu/vugu"
)

// coalescingEnv asks vugu for a render only when none is pending: vugu's
// render loop renders once per request, so three live results arriving
// before it ran (a move's write, its tasks result, the sync status) were
// three renders of the whole tree where one shows them all.
type coalescingEnv struct {
	vugu.EventEnv
	pending atomic.Bool
}

// UnlockRender releases the lock and asks for a render unless one is
// already asked for and has not started building.
func (e *coalescingEnv) UnlockRender() {
	if e.pending.Swap(true) {
		e.EventEnv.UnlockOnly()
		return
	}
	e.EventEnv.UnlockRender()
}

// Building is called by the render loop before it builds: changes made
// from now on need a render of their own.
func (e *coalescingEnv) Building() { e.pending.Store(false) }
