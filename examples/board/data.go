package main

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/hearthdb/hearth/client"
	"github.com/hearthdb/hearth/examples/board/model"
)

// Rows of the board's live queries, decoded from client results.

type Project struct {
	ID, Name, Workspace string
	Tasks               int64
}

type User struct{ ID, Name string }

type Task struct {
	ID, Title, Description, Status string
	Position                       float64
	Assignee, Due                  string
	Priority                       int64
}

type Room struct{ ID, Workspace, Name string }

type Booking struct{ ID, Room, Slot, Title, BookedBy string }

type Violation struct{ ID, Table, Message string }

// Column is one status column as rendered.
type Column struct {
	Status, Label string
	Tasks         []Task
}

const (
	projectsSQL = `SELECT p.id, p.name, p.workspace_id,
	(SELECT count(*) FROM tasks t WHERE t.project_id = p.id AND t.archived = 0)
FROM projects p WHERE p.archived = 0 ORDER BY p.name, p.id`
	usersSQL = `SELECT id, name FROM users ORDER BY name, id`
	// Only the active project's tasks: the board never loads the others.
	tasksSQL = `SELECT id, title, description, status, position, assignee_id, due_date, priority
FROM tasks WHERE project_id = ? AND archived = 0 ORDER BY status, position, id`
	roomsSQL      = `SELECT id, workspace_id, name FROM rooms ORDER BY workspace_id, name`
	bookingsSQL   = `SELECT id, room_id, slot, title, booked_by FROM bookings ORDER BY slot, id`
	violationsSQL = `SELECT id, tbl, message FROM _hearth_violations ORDER BY at DESC, id`
)

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

func num(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return 0
}

func float(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

func projectsOf(r client.Result) []Project {
	out := make([]Project, len(r.Rows))
	for i, row := range r.Rows {
		out[i] = Project{ID: str(row[0]), Name: str(row[1]), Workspace: str(row[2]), Tasks: num(row[3])}
	}
	return out
}

func usersOf(r client.Result) []User {
	out := make([]User, len(r.Rows))
	for i, row := range r.Rows {
		out[i] = User{ID: str(row[0]), Name: str(row[1])}
	}
	return out
}

func tasksOf(r client.Result) []Task {
	out := make([]Task, len(r.Rows))
	for i, row := range r.Rows {
		out[i] = Task{ID: str(row[0]), Title: str(row[1]), Description: str(row[2]), Status: str(row[3]),
			Position: float(row[4]), Assignee: str(row[5]), Due: str(row[6]), Priority: num(row[7])}
	}
	return out
}

func roomsOf(r client.Result) []Room {
	out := make([]Room, len(r.Rows))
	for i, row := range r.Rows {
		out[i] = Room{ID: str(row[0]), Workspace: str(row[1]), Name: str(row[2])}
	}
	return out
}

func bookingsOf(r client.Result) []Booking {
	out := make([]Booking, len(r.Rows))
	for i, row := range r.Rows {
		out[i] = Booking{ID: str(row[0]), Room: str(row[1]), Slot: str(row[2]), Title: str(row[3]), BookedBy: str(row[4])}
	}
	return out
}

func violationsOf(r client.Result) []Violation {
	out := make([]Violation, len(r.Rows))
	for i, row := range r.Rows {
		out[i] = Violation{ID: str(row[0]), Table: str(row[1]), Message: str(row[2])}
	}
	return out
}

// columnsOf splits tasks into the status columns, each in position order,
// keeping only the assignee's when assignee is set.
func columnsOf(tasks []Task, assignee string) []Column {
	cols := make([]Column, len(model.Statuses))
	for i, s := range model.Statuses {
		cols[i] = Column{Status: s, Label: statusLabel(s)}
	}
	for _, t := range tasks {
		if assignee != "" && t.Assignee != assignee {
			continue
		}
		i := slices.Index(model.Statuses, t.Status)
		if i < 0 {
			i = 0 // an unknown status (a newer schema's) shows in the first column
		}
		cols[i].Tasks = append(cols[i].Tasks, t)
	}
	for i := range cols {
		slices.SortStableFunc(cols[i].Tasks, func(a, b Task) int {
			return cmp.Or(cmp.Compare(a.Position, b.Position), strings.Compare(a.ID, b.ID))
		})
	}
	return cols
}

func statusLabel(s string) string {
	switch s {
	case "backlog":
		return "Backlog"
	case "doing":
		return "Doing"
	case "done":
		return "Done"
	}
	return s
}

// sameTasks reports whether a and b hold the same tasks, in any order:
// the board shows tasks by column and position, not in the order of the
// slice (a move changes a task in place; the query's result lists it
// where its new position sorts).
func sameTasks(a, b []Task) bool {
	if len(a) != len(b) {
		return false
	}
	byID := func(x, y Task) int { return strings.Compare(x.ID, y.ID) }
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, byID)
	slices.SortFunc(b, byID)
	return slices.Equal(a, b)
}

// columnPositions is the ordered positions of status's cards, all
// assignees, without the card skip.
func columnPositions(tasks []Task, status, skip string) (ids []string, pos []float64) {
	col := columnsOf(tasks, "")[max(0, slices.Index(model.Statuses, status))]
	for _, t := range col.Tasks {
		if t.ID != skip {
			ids = append(ids, t.ID)
			pos = append(pos, t.Position)
		}
	}
	return ids, pos
}

// conflicts groups bookings that share a room and slot.
func conflicts(bookings []Booking) [][]Booking {
	by := map[string][]Booking{}
	var keys []string
	for _, b := range bookings {
		k := b.Room + "|" + b.Slot
		if len(by[k]) == 0 {
			keys = append(keys, k)
		}
		by[k] = append(by[k], b)
	}
	var out [][]Booking
	for _, k := range keys {
		if len(by[k]) > 1 {
			out = append(out, by[k])
		}
	}
	return out
}
