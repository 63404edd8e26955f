package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hearthdb/hearth/client"
)

// movingBoard is a board on its live tasks with card b active, drawing
// moves into patches.
func movingBoard(patched *[]cardMove, accept bool) *Root {
	c := &Root{writes: make(chan func(context.Context) error, 8), ActiveProject: "p", View: "board", TasksReady: true,
		Users: []User{{ID: "u-01", Name: "Ada"}, {ID: "u-02", Name: "Grace"}}, ActiveCard: "b"}
	c.patchMove = func(m cardMove) bool { *patched = append(*patched, m); return accept }
	c.Tasks = []Task{
		{ID: "a", Title: "A", Status: "backlog", Position: 1, Assignee: "u-01"},
		{ID: "b", Title: "B", Status: "backlog", Position: 2, Assignee: "u-02"},
		{ID: "x", Title: "X", Status: "doing", Position: 1, Assignee: "u-02"},
		{ID: "y", Title: "Y", Status: "doing", Position: 3, Assignee: "u-01"},
	}
	c.baseTasks = slices.Clone(c.Tasks)
	return c
}

func TestMoveIsDrawnByAPatchOfWhatARenderWouldShow(t *testing.T) {
	var patched []cardMove
	c := movingBoard(&patched, true)
	c.moveTask("b", 1, 0) // second in backlog: second in doing
	if len(patched) != 1 || !c.takeDrawn() || c.takeDrawn() {
		t.Fatalf("one patch, drawn once: %d patches", len(patched))
	}
	if c.focusID != "" {
		t.Fatalf("a drawn move leaves focus to the patch, not to the next render: focusID %q", c.focusID)
	}
	want := cardMove{ID: "b", Status: "doing", Index: 1, Label: "B, Doing, Grace", Counts: []int{1, 3, 0},
		Actions: map[string]bool{"edit": true, "left": true, "up": true, "down": true, "right": true}}
	if got := patched[0]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("patch %+v, want %+v", got, want)
	}
	// The patch agrees with the columns a render would build.
	col := c.Columns()[1]
	if col.Tasks[1].ID != "b" || c.cardLabel(col.Tasks[1], col) != want.Label {
		t.Fatalf("doing column %v", col.Tasks)
	}

	// Filtered by assignee: the place among the cards shown; an inactive
	// card shows no buttons; the last column has no "right".
	c.Assignee = "u-02"
	c.ActiveCard = "x"
	c.moveTask("b", 1, 0)
	want = cardMove{ID: "b", Status: "done", Index: 0, Label: "B, Done, Grace", Counts: []int{0, 1, 1}}
	if got := patched[1]; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("filtered patch %+v, want %+v", got, want)
	}
	c.ActiveCard = "b"
	c.moveTask("b", 0, -1) // first already: no move, no patch
	c.moveTask("b", 1, 0)  // last column already
	if len(patched) != 2 || c.takeDrawn() != true {
		t.Fatalf("moves that change nothing patch nothing: %d patches", len(patched))
	}
	if !c.CardAction("b", "left") || len(patched) != 3 {
		t.Fatal("the card's Move left button moves it")
	}
	// Doing shows b (placed first: at done's index 0) above x.
	if got := patched[2]; got.Index != 0 || !got.Actions["left"] || !got.Actions["right"] || got.Actions["up"] || !got.Actions["down"] {
		t.Fatalf("first of two cards shown in doing: %+v", got)
	}
}

func TestMoveThatCannotBePatchedRenders(t *testing.T) {
	var patched []cardMove
	c := movingBoard(&patched, false) // the page refuses the patch
	c.moveTask("b", 1, 0)
	if c.takeDrawn() || c.focusID != "task-b" {
		t.Fatalf("not drawn: the render draws it and focuses the card (focusID %q)", c.focusID)
	}
	// Views the patch does not know are rendered without asking it.
	c = movingBoard(&patched, true)
	c.View = "rooms"
	n := len(patched)
	c.moveTask("b", 1, 0)
	if len(patched) != n || c.takeDrawn() {
		t.Fatal("the rooms view is rendered")
	}
}

// signalEnv reports each render asked for on a channel.
type signalEnv struct {
	mu      sync.Mutex
	renders chan struct{}
}

func (e *signalEnv) Lock()         { e.mu.Lock() }
func (e *signalEnv) UnlockOnly()   { e.mu.Unlock() }
func (e *signalEnv) UnlockRender() { e.mu.Unlock(); e.renders <- struct{}{} }
func (e *signalEnv) RLock()        { e.mu.Lock() }
func (e *signalEnv) RUnlock()      { e.mu.Unlock() }

func TestRefusedMoveIsPutBackByARender(t *testing.T) {
	var patched []cardMove
	c := movingBoard(&patched, true)
	env := &signalEnv{renders: make(chan struct{}, 4)}
	c.env = env
	env.Lock()
	c.moveTask("b", 1, 0)
	drawn := c.takeDrawn()
	env.UnlockOnly()
	if !drawn {
		t.Fatal("the move is drawn by a patch, without a render")
	}
	// The database refuses the move's write.
	c.runStatements = func(context.Context, []client.Statement) error { return errors.New("refused") }
	go c.runWrites(context.Background())
	select {
	case <-env.renders:
	case <-time.After(10 * time.Second):
		t.Fatal("no render after the refused write")
	}
	env.Lock()
	defer env.UnlockOnly()
	if i := slices.IndexFunc(c.Tasks, func(t Task) bool { return t.ID == "b" }); c.Tasks[i].Status != "backlog" {
		t.Fatalf("the refused move stays drawn: %+v", c.Tasks[i])
	}
}

func TestSyncBarTextChangesArePatched(t *testing.T) {
	var got []map[string]string
	c := &Root{Projects: []Project{{ID: "p"}}}
	c.patchTexts = func(texts map[string]string, online bool) bool { got = append(got, texts); return true }
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	was := SyncStatus{Enabled: true}
	was.Online, was.Connected, was.LastSyncedAt = true, true, now.Add(-time.Minute)
	c.Sync = was
	c.Sync.Pending = 1
	if !c.drawSyncBar(was, now) || len(got) != 1 {
		t.Fatal("a pending count change is patched")
	}
	want := map[string]string{"sync-online": "online, connected", "sync-pending": "1 pending", "sync-last": "synced 1m ago"}
	if fmt.Sprint(got[0]) != fmt.Sprint(want) {
		t.Fatalf("texts %v, want %v", got[0], want)
	}
	// A pill that comes or goes is a render.
	c.Sync.ErrorText = "push refused"
	if c.drawSyncBar(was, now) {
		t.Fatal("an error pill appearing must render")
	}
	// So is an empty board (its text follows the sync status).
	c.Sync, c.Projects = was, nil
	if c.drawSyncBar(was, now) {
		t.Fatal("the empty board's text must render")
	}
}
