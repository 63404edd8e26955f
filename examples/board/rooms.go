package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/hearthdb/hearth/examples/board/model"
	"github.com/vugu/vugu"
)

// The meeting-room view: the active project's workspace's rooms by the
// hours of one day. Booking is a local write like any other; two people
// booking the same slot offline is allowed, and the server's
// double-booking invariant (examples/board/app/hearth.yaml) turns it into
// a violation row that every board shows.

const slotLayout = model.SlotLayout

// Slot is one bookable hour.
type Slot struct{ Key, Label string }

// Slots are the day's bookable hours, 9:00 to 17:00.
func (c *Root) Slots() []Slot {
	out := make([]Slot, 0, 9)
	for h := 9; h <= 17; h++ {
		t := c.Day.Add(time.Duration(h) * time.Hour)
		out = append(out, Slot{Key: t.Format(slotLayout), Label: t.Format("15:04")})
	}
	return out
}

func (c *Root) DayLabel() string { return c.Day.Format("Mon 2 Jan 2006") }

// RoomsShown are the rooms of the active project's workspace.
func (c *Root) RoomsShown() []Room {
	ws := ""
	if p := c.project(); p != nil {
		ws = p.Workspace
	}
	var out []Room
	for _, r := range c.Rooms {
		if ws == "" || r.Workspace == ws {
			out = append(out, r)
		}
	}
	return out
}

// BookingsAt are the bookings of room at slot (more than one is a
// double booking).
func (c *Root) BookingsAt(room, slot string) []Booking {
	var out []Booking
	for _, b := range c.Bookings {
		if b.Room == room && b.Slot == slot {
			out = append(out, b)
		}
	}
	return out
}

// Conflicts are the double bookings, each with every booking involved.
func (c *Root) Conflicts() [][]Booking { return conflicts(c.Bookings) }

func (c *Root) RoomName(id string) string {
	for _, r := range c.Rooms {
		if r.ID == id {
			return r.Name
		}
	}
	return id
}

func (c *Root) SlotLabel(slot string) string {
	t, err := time.Parse(slotLayout, slot)
	if err != nil {
		return slot
	}
	return t.Format("Mon 2 Jan 15:04")
}

func (c *Root) ShiftDay(e vugu.DOMEvent, days int) { c.Day = c.Day.AddDate(0, 0, days) }

// BookSlot books room at slot for Me.
func (c *Root) BookSlot(e vugu.DOMEvent, room, slot string) {
	var ws string
	for _, r := range c.Rooms {
		if r.ID == room {
			ws = r.Workspace
		}
	}
	b := Booking{ID: newID("b"), Room: room, Slot: slot, Title: fmt.Sprintf("Booked by %s", c.UserName(c.Me)), BookedBy: c.Me}
	c.Bookings = append(c.Bookings, b)
	c.write(func(ctx context.Context) error {
		_, err := c.db.Exec(ctx, `INSERT INTO bookings(id, workspace_id, room_id, slot, title, booked_by) VALUES (?, ?, ?, ?, ?, ?)`,
			b.ID, ws, b.Room, b.Slot, b.Title, b.BookedBy)
		return err
	})
}

// CancelBooking deletes a booking (how a double booking is resolved).
func (c *Root) CancelBooking(e vugu.DOMEvent, id string) {
	for i, b := range c.Bookings {
		if b.ID == id {
			c.Bookings = append(c.Bookings[:i:i], c.Bookings[i+1:]...)
			break
		}
	}
	c.write(func(ctx context.Context) error {
		_, err := c.db.Exec(ctx, `DELETE FROM bookings WHERE id = ?`, id)
		return err
	})
}

// OpenConflicts counts the double bookings still in place while the server
// has flagged any: the notice goes once every flagged slot is resolved
// (the violation rows stay, as history, in the sync bar's count).
func (c *Root) OpenConflicts() int {
	if !slices.ContainsFunc(c.Violations, func(v Violation) bool { return !c.dismissed[v.ID] }) {
		return 0
	}
	return len(conflicts(c.Bookings))
}

// DismissViolations hides the notice until the server flags something
// new, and settles this device's flagged changes in its journal (they
// stay applied; the flag was the server's note on them).
func (c *Root) DismissViolations(e vugu.DOMEvent) {
	if c.dismissed == nil {
		c.dismissed = map[string]bool{}
	}
	for _, v := range c.Violations {
		c.dismissed[v.ID] = true
	}
	if !c.Sync.Enabled {
		return
	}
	c.write(func(ctx context.Context) error {
		r, err := c.db.Query(ctx, `SELECT seq FROM _hearth_journal WHERE state = 'flagged'`)
		if err != nil {
			return err
		}
		for _, row := range r.Rows {
			if err := c.db.DismissChange(ctx, num(row[0])); err != nil {
				return err
			}
		}
		return nil
	})
}

// ShowConflictsPanel shows the double bookings behind the violations notice.
func (c *Root) ShowConflictsPanel(e vugu.DOMEvent) {
	c.ShowView(e, "rooms")
	c.ShowConflicts = true
}

func (c *Root) CloseConflicts(e vugu.DOMEvent) { c.ShowConflicts = false }
