package main

import (
	"testing"
)

// countingEnv counts the renders asked for.
type countingEnv struct{ renders, unlocks int }

func (e *countingEnv) Lock()         {}
func (e *countingEnv) UnlockOnly()   { e.unlocks++ }
func (e *countingEnv) UnlockRender() { e.unlocks++; e.renders++ }
func (e *countingEnv) RLock()        {}
func (e *countingEnv) RUnlock()      {}

func TestCoalescingEnvAsksOnceUntilTheBuildStarts(t *testing.T) {
	inner := &countingEnv{}
	env := &coalescingEnv{EventEnv: inner}
	for range 3 {
		env.Lock()
		env.UnlockRender()
	}
	if inner.renders != 1 || inner.unlocks != 3 {
		t.Fatalf("before the build: %d renders asked, %d unlocks; want 1 and 3", inner.renders, inner.unlocks)
	}
	env.Building()
	env.Lock()
	env.UnlockRender()
	if inner.renders != 2 {
		t.Fatalf("a change after the build started must ask again: %d renders", inner.renders)
	}
}

func TestSavedFrameStaysUntilTheBoardShowsContentOfItsOwn(t *testing.T) {
	cases := []struct {
		name                 string
		status, notice       string
		tasksReady, wantOwns bool
	}{
		{"opening", OpeningStatus, "", false, false},
		{"open, tasks not read yet", "", "", false, false},
		{"cached or live tasks", OpeningStatus, "", true, true},
		{"a project without tasks", "", "", true, true},
		{"the database failed to open", "Could not open the board's database: quota", "", false, true},
		{"a live query failed", "", "Live query failed: boom", false, true},
	}
	for _, tc := range cases {
		root := &Root{Status: tc.status, Notice: tc.notice, TasksReady: tc.tasksReady}
		if got := root.showsOwnContent(); got != tc.wantOwns {
			t.Errorf("%s: showsOwnContent() = %v, want %v", tc.name, got, tc.wantOwns)
		}
	}
}
