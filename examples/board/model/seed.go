package model

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// SeedOptions sizes the seed workspace.
type SeedOptions struct {
	// Tasks is the number of tasks (default 400). Projects and users
	// scale with it: 5,000 tasks give 200 projects and 50 users.
	Tasks int
	// Today is the day the seed is laid out around (model.Today of the
	// seeding clock): due dates from ten days before it to seven weeks
	// after, and meetings on the day before, the day itself and the day
	// after, so a board whose today is a day off the seed's (another time
	// zone, a seed made just before midnight) still opens on meetings.
	// Zero: FixedSeedDay, for callers to whom dates do not matter (the
	// same rows every run); the board and the server pass their clock's.
	Today time.Time
}

// FixedSeedDay is the seed's today when SeedOptions.Today is zero.
var FixedSeedDay = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

// SeedMeetingDays are the days, relative to the seed's today, with a
// morning meeting in every room.
var SeedMeetingDays = []int{-1, 0, 1}

// SeedMeetingHour is the hour of the morning meeting in the i-th room of
// a workspace (9:00 in the first, 10:00 in the second, …): the seed books
// nothing from 9+len(Rooms) on.
func SeedMeetingHour(room int) int { return 9 + room }

// Workspace ids of the seed. Every user is a member of MainWorkspace;
// every third user also of SideWorkspace.
const (
	MainWorkspace = "ws-main"
	SideWorkspace = "ws-side"
)

// Statement is one parameterized write. Args are string, int64 or float64.
type Statement struct {
	SQL  string
	Args []any
}

var firstNames = []string{"Ada", "Grace", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances",
	"Alan", "Radia", "Edsger", "Sophie", "Donald", "Hedy", "John", "Katherine", "Tim", "Anita",
	"Guido", "Shafi", "Niklaus", "Jean", "Bjarne", "Lynn", "Rob"}

var verbs = []string{"Fix", "Write", "Review", "Ship", "Design", "Measure", "Refactor", "Document", "Test", "Plan"}
var objects = []string{"login page", "sync status bar", "release notes", "invoice export", "search index",
	"onboarding email", "dark mode", "offline banner", "CSV import", "audit log", "billing webhook",
	"mobile layout", "error pages", "rate limiter", "backup job"}

// Rooms are the meeting rooms of each workspace.
var Rooms = []string{"Lovelace", "Hopper", "Turing", "Hamilton"}

// UserID is the id of the seed's i-th user (from 0).
func UserID(i int) string { return fmt.Sprintf("u-%02d", i+1) }

// SeedStatements returns the seed workspace as inserts, with the same
// random choices every time. Run them in one transaction.
func SeedStatements(opts SeedOptions) []Statement {
	if opts.Tasks <= 0 {
		opts.Tasks = 400
	}
	today := FixedSeedDay
	if !opts.Today.IsZero() {
		today = Today(opts.Today)
	}
	nProjects := max(4, opts.Tasks/25)
	nUsers := max(8, opts.Tasks/100)
	rng := rand.New(rand.NewPCG(7, uint64(opts.Tasks)))

	var out []Statement
	insert := func(sql string, args ...any) {
		for i, a := range args {
			if n, ok := a.(int); ok {
				args[i] = int64(n)
			}
		}
		out = append(out, Statement{SQL: sql, Args: args})
	}
	for _, ws := range [][2]string{{MainWorkspace, "Hearth Labs"}, {SideWorkspace, "Side Project"}} {
		insert(`INSERT INTO workspaces(id, name) VALUES (?, ?)`, ws[0], ws[1])
	}
	for i := range nUsers {
		name := firstNames[i%len(firstNames)]
		if i >= len(firstNames) {
			name = fmt.Sprintf("%s %d", name, i/len(firstNames)+1)
		}
		id := UserID(i)
		insert(`INSERT INTO users(id, name, email) VALUES (?, ?, ?)`, id, name, fmt.Sprintf("%s@example.com", id))
		insert(`INSERT INTO members(id, workspace_id, user_id, role) VALUES (?, ?, ?, ?)`, "m-"+MainWorkspace+"-"+id, MainWorkspace, id, "member")
		if i%3 == 0 {
			insert(`INSERT INTO members(id, workspace_id, user_id, role) VALUES (?, ?, ?, ?)`, "m-"+SideWorkspace+"-"+id, SideWorkspace, id, "member")
		}
	}
	projectWS := make([]string, nProjects)
	for i := range nProjects {
		ws := MainWorkspace
		if i%10 == 9 {
			ws = SideWorkspace
		}
		projectWS[i] = ws
		name := fmt.Sprintf("%s %s", objects[i%len(objects)], []string{"v1", "v2", "rework", "launch"}[i/len(objects)%4])
		insert(`INSERT INTO projects(id, workspace_id, name) VALUES (?, ?, ?)`, fmt.Sprintf("p-%03d", i+1), ws, name)
	}
	for i := range opts.Tasks {
		p := i % nProjects
		status := Statuses[rng.IntN(len(Statuses))]
		due := ""
		if rng.IntN(3) > 0 {
			due = today.AddDate(0, 0, rng.IntN(60)-10).Format(DateLayout)
		}
		title := fmt.Sprintf("%s %s", verbs[rng.IntN(len(verbs))], objects[rng.IntN(len(objects))])
		insert(`INSERT INTO tasks(id, workspace_id, project_id, title, description, status, position, assignee_id, due_date, priority)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			fmt.Sprintf("t-%05d", i+1), projectWS[p], fmt.Sprintf("p-%03d", p+1), title,
			fmt.Sprintf("Seed task %d of project %d.", i+1, p+1), status, float64(i/nProjects+1),
			UserID(rng.IntN(nUsers)), due, rng.IntN(4))
	}
	for w, ws := range []string{MainWorkspace, SideWorkspace} {
		for r, name := range Rooms {
			id := fmt.Sprintf("r-%d-%d", w+1, r+1)
			insert(`INSERT INTO rooms(id, workspace_id, name) VALUES (?, ?, ?)`, id, ws, name)
			for d, day := range SeedMeetingDays {
				slot := today.AddDate(0, 0, day).Add(time.Duration(SeedMeetingHour(r)) * time.Hour).Format(SlotLayout)
				insert(`INSERT INTO bookings(id, workspace_id, room_id, slot, title, booked_by) VALUES (?, ?, ?, ?, ?, ?)`,
					fmt.Sprintf("b-%d-%d-%d", w+1, r+1, d+1), ws, id, slot, "Team sync", UserID((r+d)%nUsers))
			}
		}
	}
	return out
}
