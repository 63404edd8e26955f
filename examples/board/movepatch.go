package main

import (
	"slices"
	"time"
)

// A card move is drawn by a small patch of the page, not by a vugu
// render: vugu does not diff, it walks and re-sets the whole tree (every
// attribute and text of every element), which made a move's key event
// cost a full render plus the forced layout of focusing the re-created
// card. The patch moves the card's <li> (Node.moveBefore keeps its focus)
// and updates what the move changed: the card's label, its action
// buttons and the column counts. It leaves the page exactly as a render
// of the new state would, so vugu's next render (it reuses elements by
// position) finds everything in place; and nothing inside the columns
// has a vugu event listener (those are bound to positions): boot.js
// passes card clicks to CardAction by the card's id.

// cardMove is the page change that draws a moved card.
type cardMove struct {
	ID     string
	Status string // the column it is in now
	// Index is its place among the cards that column shows.
	Index int
	Label string // its aria-label
	// Counts are the columns' card counts, in column order.
	Counts []int
	// Actions are its action buttons' shown state (action → shown), nil
	// when it shows none (not the active card).
	Actions map[string]bool
}

// moveActions are the card action buttons that move it.
var moveActions = []string{"left", "up", "down", "right"}

// moveAllowed reports whether the card at column ci, place ti of a
// column of n cards, shows the move action's button.
func moveAllowed(action string, ci, ti, n int) bool {
	switch action {
	case "left":
		return ci > 0
	case "up":
		return ti > 0
	case "down":
		return ti < n-1
	case "right":
		return ci < len(columnsOf(nil, ""))-1
	}
	return false
}

// cardLabel is a card's accessible name: its title, column and assignee.
func (c *Root) cardLabel(t Task, col Column) string {
	return t.Title + ", " + col.Label + ", " + c.UserName(t.Assignee)
}

// cardMoveOf is the patch that shows task id where c.Tasks now has it;
// ok is false when the board does not show it.
func (c *Root) cardMoveOf(id string) (m cardMove, ok bool) {
	cols := c.Columns()
	m.ID = id
	for ci, col := range cols {
		m.Counts = append(m.Counts, len(col.Tasks))
		ti := slices.IndexFunc(col.Tasks, func(t Task) bool { return t.ID == id })
		if ti < 0 {
			continue
		}
		ok = true
		m.Status, m.Index, m.Label = col.Status, ti, c.cardLabel(col.Tasks[ti], col)
		if id == c.ActiveCard {
			m.Actions = map[string]bool{"edit": true}
			for _, a := range moveActions {
				m.Actions[a] = moveAllowed(a, ci, ti, len(col.Tasks))
			}
		}
	}
	return m, ok
}

// drawMove draws the move of task id that c.Tasks now holds by patching
// the page; false when it could not (the caller then renders). Only the
// board view draws that way: it is what the page shows.
func (c *Root) drawMove(id string) bool {
	if c.patchMove == nil || c.View == "rooms" || c.Editing != nil || c.Stale || !c.TasksReady {
		return false
	}
	m, ok := c.cardMoveOf(id)
	if !ok || !c.patchMove(m) {
		return false
	}
	c.drawn = true
	return true
}

// takeDrawn reports whether the last event's change is already on the
// page (no render needed), and resets it.
func (c *Root) takeDrawn() bool {
	d := c.drawn
	c.drawn = false
	return d
}

// CardAction is a click on one of a card's buttons, or a double click on
// the card (action "edit"), passed by boot.js with the card's task id. It
// reports whether it acted.
func (c *Root) CardAction(id, action string) bool {
	if c.Editing != nil {
		return false
	}
	if action == "edit" {
		c.EditTask(nil, id)
		return true
	}
	return c.moveBy(id, action)
}

// moveDelta is each move action's change of column and of place in it.
var moveDelta = map[string][2]int{"left": {-1, 0}, "right": {1, 0}, "up": {0, -1}, "down": {0, 1}}

// moveBy moves task id as the move action says; false for another action.
func (c *Root) moveBy(id, action string) bool {
	d, ok := moveDelta[action]
	if ok {
		c.moveTask(id, d[0], d[1])
	}
	return ok
}

// drawSyncBar draws a sync status change from was to c.Sync by patching
// the bar's texts, when the bar keeps its shape and nothing else shows
// the status (the empty board's text); false when it did not (render).
func (c *Root) drawSyncBar(was SyncStatus, now time.Time) bool {
	if c.patchTexts == nil || was.barShape() != c.Sync.barShape() || len(c.Projects) == 0 {
		return false
	}
	return c.patchTexts(c.Sync.barTexts(now), c.Sync.Online)
}
