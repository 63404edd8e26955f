package main

import (
	"sync"
	"testing"
	"time"
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

func TestTheFirstPaintWaitsForTheFirstTasks(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	holding := now.Add(firstPaintHold)
	cases := []struct {
		name string
		root *Root
		want bool
	}{
		{"open, nothing read yet", &Root{holdUntil: holding}, true},
		{"projects read, tasks not yet", &Root{holdUntil: holding, liveProjects: true, Projects: []Project{{ID: "p1"}}}, true},
		{"the hold ran out", &Root{holdUntil: now}, false},
		{"never held (a reload showing cached tasks)", &Root{}, false},
		{"tasks read", &Root{holdUntil: holding, TasksReady: true}, false},
		{"no projects, so no tasks to wait for", &Root{holdUntil: holding, liveProjects: true, Projects: []Project{}}, false},
		{"a live query failed", &Root{holdUntil: holding, Notice: "Live query failed: boom"}, false},
		{"an error instead of the board", &Root{holdUntil: holding, Status: "Could not prepare the board's database: boom"}, false},
	}
	for _, tc := range cases {
		if got := tc.root.holdsRender(now); got != tc.want {
			t.Errorf("%s: holdsRender = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// syncCountingEnv counts renders across the goroutines postChange starts.
type syncCountingEnv struct {
	mu      sync.Mutex
	renders int
}

func (e *syncCountingEnv) Lock()       { e.mu.Lock() }
func (e *syncCountingEnv) UnlockOnly() { e.mu.Unlock() }
func (e *syncCountingEnv) UnlockRender() {
	e.renders++
	e.mu.Unlock()
}
func (e *syncCountingEnv) RLock()   { e.mu.Lock() }
func (e *syncCountingEnv) RUnlock() { e.mu.Unlock() }

// settled waits (boundedly) until fn, run under the env's lock, holds.
func settled(t *testing.T, env *syncCountingEnv, what string, fn func() bool) {
	t.Helper()
	for range 2000 {
		env.mu.Lock()
		ok := fn()
		env.mu.Unlock()
		if ok {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("not settled: %s", what)
}

func TestAHeldRenderIsMadeWithTheFirstTasks(t *testing.T) {
	env := &syncCountingEnv{}
	// A hold far longer than the test: only the tasks can end it.
	c := &Root{env: env, holdUntil: time.Now().Add(time.Hour)}
	c.post(func() { c.Projects, c.liveProjects = []Project{{ID: "p1"}}, true })
	settled(t, env, "the projects' change held", func() bool { return c.renderHeld })
	c.post(func() { c.Users = []User{{ID: "u1"}} })
	c.postChange(func() bool { return false })
	settled(t, env, "the queue drained", func() bool {
		c.queueMu.Lock()
		defer c.queueMu.Unlock()
		return len(c.queue) == 0
	})
	env.mu.Lock()
	if env.renders != 0 {
		t.Fatalf("%d renders while holding for the first tasks", env.renders)
	}
	env.mu.Unlock()
	c.postChange(func() bool { c.TasksReady = true; return true })
	settled(t, env, "one render with the tasks", func() bool { return env.renders == 1 && !c.renderHeld })
}

// An update that changes nothing, in a batch of its own after the held
// one, keeps the render held: it is made with the tasks.
func TestAnUpdateThatChangesNothingKeepsTheRenderHeld(t *testing.T) {
	env := &syncCountingEnv{}
	c := &Root{env: env, holdUntil: time.Now().Add(time.Hour)}
	drained := func() bool {
		c.queueMu.Lock()
		defer c.queueMu.Unlock()
		return len(c.queue) == 0
	}
	c.post(func() { c.Projects, c.liveProjects = []Project{{ID: "p1"}}, true })
	settled(t, env, "the projects' change held", func() bool { return c.renderHeld })
	c.postChange(func() bool { return false })
	settled(t, env, "the queue drained", drained)
	// Under the env's lock: the batch that drained the queue has run.
	env.mu.Lock()
	renders := env.renders
	env.mu.Unlock()
	if renders != 0 {
		t.Fatalf("%d renders after an update that changed nothing, with the hold on", renders)
	}
	c.postChange(func() bool { c.TasksReady = true; return true })
	settled(t, env, "one render with the tasks", func() bool { return env.renders == 1 && !c.renderHeld })
}

func TestAHeldRenderIsMadeWhenTheHoldRunsOut(t *testing.T) {
	env := &syncCountingEnv{}
	c := &Root{env: env, holdUntil: time.Now().Add(20 * time.Millisecond)}
	c.post(func() { c.Projects, c.liveProjects = []Project{{ID: "p1"}}, true })
	settled(t, env, "the held render made when the hold ran out", func() bool { return env.renders == 1 && !c.renderHeld })
}
