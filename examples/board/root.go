package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearthdb/hearth/client"
	"github.com/hearthdb/hearth/examples/board/model"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/vugu/vugu"
)

// Root is the board. Its exported fields are what the template renders;
// they change only with the render lock held (event handlers hold it;
// live query results arrive through post).
type Root struct {
	env vugu.EventEnv
	db  *client.DB

	// Status is set while the database opens (the only wait in the app)
	// and when opening failed.
	Status string
	// Notice is the last failed write, shown without blocking anything.
	Notice string

	Projects   []Project
	Users      []User
	Tasks      []Task
	TasksReady bool
	// Stale: what the board shows is the result cache's (the last live
	// results of an earlier visit), painted while the database opens;
	// the live tasks result ends it.
	Stale bool
	// AllProjects: the nav lists every project, not only the first few.
	AllProjects bool
	Rooms       []Room
	Bookings    []Booking
	Violations  []Violation

	Sync       SyncStatus
	Storage    string
	Persistent bool

	ActiveProject string
	Assignee      string
	View          string // "board" or "rooms"
	Day           time.Time
	ShowConflicts bool
	Editing       *Draft
	// ActiveCard is the card that last had focus: only it renders its
	// action buttons, which keeps a render of a full column small.
	ActiveCard string
	// dismissed are violation ids whose notice was dismissed here.
	dismissed map[string]bool
	// baseTasks is the last tasks result; edits are this board's writes
	// laid over it (edits.go).
	baseTasks []Task
	edits     []localEdit
	editSeq   int
	// expiryCheck: a re-rebase is scheduled for edits about to expire.
	expiryCheck bool

	// Me is the signed-in demo user (?user=, the user picker): who books
	// rooms.
	Me string
	// Clock, when set, is the board's clock instead of the page's (clock.go).
	Clock func() time.Time
	// syncDB is the database once it is open with sync, for
	// hearthSyncStatus (read off the render lock); localOnly says there
	// will be none.
	syncDB    atomic.Pointer[client.DB]
	localOnly atomic.Bool

	queueMu  sync.Mutex
	queue    []func() bool
	writes   chan func(context.Context) error
	taskGen  int
	stopTask func(context.Context) error
	// watchingTasks is the project whose tasks watch is started.
	watchingTasks string
	// liveProjects: a live projects result has arrived (the cache's
	// no longer counts).
	liveProjects bool
	focusID      string
	// patchMove draws a card move on the page (movepatch.go); nil (native
	// builds, tests that render) draws it by a render. drawn: the last
	// event's change is drawn already.
	patchMove func(cardMove) bool
	// patchTexts sets the text of page elements by id (and the sync
	// bar's data-on); nil: changes are rendered.
	patchTexts func(texts map[string]string, online bool) bool
	drawn      bool
	// runStatements, when set, runs the moves' writes instead of the
	// database (tests).
	runStatements func(context.Context, []client.Statement) error
	painted       bool
	// livePainted: a live tasks result has been painted.
	livePainted bool
	// frameDropped: the saved frame of the last visit has been removed.
	frameDropped bool
	// holdUntil: renders wait for the first tasks until then (holdsRender);
	// renderHeld: a render was asked for meanwhile and not made.
	holdUntil  time.Time
	renderHeld bool
}

// Draft is the task being created or edited.
type Draft struct {
	ID, Title, Description, Status, Assignee, Due string
	Priority                                      int64
	New                                           bool
}

// post runs fn with the render lock held, then re-renders. Live query
// callbacks run on the worker transport's goroutine and must not block,
// so they queue their updates here; one goroutine applies them in order.
func (c *Root) post(fn func()) { c.postChange(func() bool { fn(); return true }) }

// postChange is post for an update that may change nothing on screen: fn
// reports whether it did, and the board re-renders only if some update
// of the batch did (vugu renders the whole tree each time), and not while
// it holds for its first tasks (holdsRender): then the held render is made
// with the change that ends the hold, or when the hold runs out.
func (c *Root) postChange(fn func() bool) {
	c.queueMu.Lock()
	c.queue = append(c.queue, fn)
	first := len(c.queue) == 1
	c.queueMu.Unlock()
	if first {
		go func() {
			c.env.Lock()
			c.queueMu.Lock()
			q := c.queue
			c.queue = nil
			c.queueMu.Unlock()
			changed := false
			for _, fn := range q {
				if fn() {
					changed = true
				}
			}
			// A held render stays held while the hold lasts, through
			// updates that change nothing too (they may come in a batch
			// of their own, after the one that was held).
			switch {
			case (changed || c.renderHeld) && c.holdsRender(time.Now()):
				if !c.renderHeld {
					c.renderHeld = true
					time.AfterFunc(time.Until(c.holdUntil), func() {
						c.postChange(func() bool { return c.renderHeld })
					})
				}
				c.env.UnlockOnly()
			case changed || c.renderHeld:
				c.renderHeld = false
				c.env.UnlockRender()
			default:
				c.env.UnlockOnly()
			}
		}()
	}
}

// write queues a local write. Writes run one at a time in order on their
// own goroutine: the UI never waits for them; the live queries show
// their effect.
func (c *Root) write(fn func(context.Context) error) {
	c.writes <- fn
}

func (c *Root) runWrites(ctx context.Context) {
	for fn := range c.writes {
		// The frame that shows the change goes first: on a machine short
		// of cores the worker's write, its live results and the sync
		// round trip otherwise compete with that frame's paint.
		afterNextPaint(ctx)
		if err := fn(ctx); err != nil {
			msg := err.Error()
			c.post(func() { c.Notice = "Could not save: " + msg })
		}
	}
}

// Options for Start: where the data comes from.
type StartOptions struct {
	// SeedTasks is the size of the local demo seed (0: 400).
	SeedTasks int
	// LocalSeed loads demo data into an empty database. Off when a sync
	// server provides the data.
	LocalSeed bool
	// SyncURL, when set, syncs the board's tables with that server; the
	// sync bar then follows the worker's sync status.
	SyncURL string
}

// boardDatabase names the board's database for a user ("board" when the
// user is not known).
func boardDatabase(user string) string {
	if user == "" {
		return "board"
	}
	return "board-" + user
}

// Start opens the board database through the Hearth worker and starts the
// live queries. It runs on its own goroutine.
func (c *Root) Start(ctx context.Context, hc *client.Client, opts StartOptions) {
	if c.writes == nil {
		c.writes = make(chan func(context.Context) error, 64)
	}
	// One database per signed-in user: a replica id belongs to the user
	// who first synced it (the server refuses it to anyone else), and one
	// user's workspaces must not stay readable to the next user of a
	// shared browser.
	open := client.OpenOptions{Name: boardDatabase(c.Me), Migrations: model.Migrations}
	var token tokenReply
	var tokenReceived time.Time
	// A token still on its way after tokenWait: the database opens
	// without it, and the worker gets it when it comes.
	var lateToken chan tokenReply
	c.localOnly.Store(opts.SyncURL == "")
	if opts.SyncURL != "" {
		open.Sync = &client.SyncOptions{URL: opts.SyncURL, Tables: model.Tables, Text: model.Text}
		asked := make(chan tokenReply, 1)
		go func() { asked <- demoToken(ctx, false) }()
		select {
		case token = <-asked:
			tokenReceived = time.Now()
			open.Sync.Token = token.value
		case <-time.After(tokenWait):
			lateToken = asked
		}
	}
	db, err := hc.Open(ctx, open)
	if err != nil {
		c.post(func() { c.Status = "Could not open the board's database: " + err.Error() })
		return
	}
	// The sync layer creates the same table; until it runs, an empty one
	// lets the violations query run everywhere.
	if _, err := db.Exec(ctx, appschema.ViolationsDDL); err != nil {
		c.post(func() { c.Status = "Could not prepare the board's database: " + err.Error() })
		return
	}
	markMilestone("open")
	if opts.SyncURL != "" {
		c.syncDB.Store(db)
	}
	switch {
	case lateToken != nil:
		go func() {
			select {
			case <-ctx.Done():
			case t := <-lateToken:
				if t.value != "" {
					db.SetSyncToken(ctx, t.value)
				}
				if t.value != "" || t.unreachable {
					renewToken(ctx, db, t, time.Now())
				}
			}
		}()
	case token.value != "" || token.unreachable:
		go renewToken(ctx, db, token, tokenReceived)
	}
	if opts.LocalSeed {
		if err := seedIfEmpty(ctx, db, opts.SeedTasks, c.today()); err != nil {
			c.post(func() { c.Status = "Could not load demo data: " + err.Error() })
			return
		}
	}
	c.post(func() {
		if !c.showsOwnContent() {
			c.holdUntil = time.Now().Add(firstPaintHold)
		}
		c.db = db
		c.Status = ""
		c.Storage = storageLabel(db.Storage)
		c.Persistent = db.Persistent
		// Writes made while the cached board showed run now, in order.
		go c.runWrites(ctx)
	})
	// The sync bar's status is asked for beside the queries, not after
	// them: until it comes the bar says "offline" (a zero status), and a
	// first visit draws its tasks before the last query's reply (it
	// showed "offline" for half a second while the page was online).
	var source SyncSource = localOnly{}
	if opts.SyncURL != "" {
		source = clientSync{hc: hc, db: db}
	}
	go func() {
		if _, err := source.Watch(ctx, func(s SyncStatus) {
			c.postChange(func() bool {
				// Most status changes (cursor, head, checksums) are not
				// shown: they cost no render; and one that only changes
				// the bar's texts (a move's pending change) is patched.
				now := c.now()
				old := c.Sync
				c.Sync = s
				return old.shown(now) != s.shown(now) && !c.drawSyncBar(old, now)
			})
		}); err != nil {
			c.post(func() { c.Notice = "Sync status unavailable: " + err.Error() })
		}
	}()
	name := boardDatabase(c.Me)
	// fn reports whether the result changed what the board shows: a
	// write re-runs every query over its table, and most results come
	// back as they were (a card move re-counts the projects' tasks), so
	// an unchanged one costs no render of the whole tree.
	watch := func(sql string, cached bool, fn func(client.Result) bool) {
		if _, err := db.Watch(ctx, sql, nil, func(r client.Result) {
			if cached {
				saveResult(name, cacheScope, sql, nil, r)
			}
			c.postChange(func() bool { return fn(r) })
		}); err != nil {
			c.post(func() { c.Notice = "Live query failed: " + err.Error() })
		}
	}
	watch(projectsSQL, true, func(r client.Result) bool {
		projects := projectsOf(r)
		if c.liveProjects && slices.Equal(projects, c.Projects) {
			return false
		}
		c.Projects = projects
		c.liveProjects = true
		if len(c.Projects) == 0 {
			c.Tasks, c.TasksReady, c.Stale = nil, false, false
		}
		if c.project() != nil && c.watchingTasks != c.ActiveProject {
			// The project the cached board showed: its tasks go live.
			c.selectProject(c.ActiveProject)
		}
		if c.project() == nil && len(c.Projects) > 0 {
			// A reload reopens the project named in the URL.
			want := c.Projects[0].ID
			if h := locationHash(); slices.ContainsFunc(c.Projects, func(p Project) bool { return p.ID == h }) {
				want = h
			}
			c.selectProject(want)
		}
		return true
	})
	watch(usersSQL, true, func(r client.Result) bool { return replaced(&c.Users, usersOf(r)) })
	watch(roomsSQL, false, func(r client.Result) bool { return replaced(&c.Rooms, roomsOf(r)) })
	watch(bookingsSQL, false, func(r client.Result) bool { return replaced(&c.Bookings, bookingsOf(r)) })
	watch(violationsSQL, false, func(r client.Result) bool { return replaced(&c.Violations, violationsOf(r)) })
}

// replaced sets *dst to v and reports whether that changed it. A nil and an
// empty result differ: the first result of a query always counts.
func replaced[T comparable](dst *[]T, v []T) bool {
	if *dst != nil && slices.Equal(*dst, v) {
		return false
	}
	if v == nil {
		v = []T{}
	}
	*dst = v
	return true
}

func storageLabel(s string) string {
	switch s {
	case "opfs":
		return "OPFS"
	case "idb":
		return "IndexedDB"
	case "memory":
		return "memory"
	}
	return s
}

// seedIfEmpty loads the demo seed, laid out around today, into an empty
// database.
func seedIfEmpty(ctx context.Context, db *client.DB, tasks int, today time.Time) error {
	r, err := db.Query(ctx, `SELECT count(*) FROM projects`)
	if err != nil {
		return err
	}
	if len(r.Rows) == 1 && num(r.Rows[0][0]) > 0 {
		return nil
	}
	seed := model.SeedStatements(model.SeedOptions{Tasks: tasks, Today: today})
	stmts := make([]client.Statement, len(seed))
	for i, s := range seed {
		stmts[i] = client.Statement{SQL: s.SQL, Args: s.Args}
	}
	_, err = db.Batch(ctx, stmts...)
	return err
}

// OpeningStatus is the board's status until its database is open.
const OpeningStatus = "Opening the board…"

// cacheScope keys the board's cached results by its schema: a migration
// that changes the queries' rows leaves the older results unread. (The
// user is in the database's name.)
var cacheScope = fmt.Sprintf("schema-%d", model.Migrations[len(model.Migrations)-1].Version)

// PaintCached shows the board as the result cache last saw it (projects,
// users and the active project's tasks), marked stale, while the database
// opens; it does nothing once live results are in or when nothing is
// cached. It runs on its own goroutine.
func (c *Root) PaintCached(ctx context.Context) {
	// For tests: the cache has been looked at (and its board posted).
	defer markMilestone("cache-checked")
	name := boardDatabase(c.Me)
	pr, ok := cachedResult(ctx, name, cacheScope, projectsSQL, nil)
	if !ok {
		return
	}
	projects := projectsOf(pr)
	if len(projects) == 0 {
		return
	}
	want := projects[0].ID
	if h := locationHash(); slices.ContainsFunc(projects, func(p Project) bool { return p.ID == h }) {
		want = h
	}
	ur, _ := cachedResult(ctx, name, cacheScope, usersSQL, nil)
	tr, tasksOK := cachedResult(ctx, name, cacheScope, tasksSQL, []any{want})
	c.post(func() {
		if c.liveProjects || c.ActiveProject != "" || c.Status != OpeningStatus {
			return // the live board came first, or opening failed
		}
		c.Stale = true
		c.Status = ""
		c.Projects = projects
		if len(c.Users) == 0 {
			c.Users = usersOf(ur)
		}
		c.ActiveProject = want
		if tasksOK {
			c.baseTasks = tasksOf(tr)
			c.Tasks, c.TasksReady = slices.Clone(c.baseTasks), true
		}
	})
}

// selectProject switches the tasks live query to project id. Called with
// the render lock held.
func (c *Root) selectProject(id string) {
	if c.ActiveProject == id && c.watchingTasks == id {
		return
	}
	// The cached board's tasks of this project stay until the live ones
	// come (and the moves made on them meanwhile, as edits).
	keep := c.ActiveProject == id && c.Stale
	c.ActiveProject = id
	if !keep {
		c.Tasks, c.TasksReady = nil, false
		c.baseTasks, c.edits = nil, nil
	}
	setLocationHash(id)
	c.taskGen++
	if c.db == nil {
		// The cached board, before the database is open: the projects
		// watch starts this project's tasks once it is.
		return
	}
	c.watchingTasks = id
	gen := c.taskGen
	stop := c.stopTask
	c.stopTask = nil
	db := c.db
	name := boardDatabase(c.Me)
	go func() {
		ctx := context.Background()
		if stop != nil {
			stop(ctx)
		}
		s, err := db.Watch(ctx, tasksSQL, []any{id}, func(r client.Result) {
			saveResult(name, cacheScope, tasksSQL, []any{id}, r)
			c.postChange(func() bool {
				if c.taskGen != gen {
					return false
				}
				c.baseTasks = tasksOf(r)
				tasks := c.rebase(c.baseTasks, time.Now())
				// The result of this board's own move shows what the
				// move already drew: no render for it.
				changed := !c.TasksReady || c.Stale || !sameTasks(c.Tasks, tasks)
				c.Tasks, c.TasksReady, c.Stale = tasks, true, false
				return changed
			})
		})
		c.post(func() {
			if err != nil {
				c.Notice = "Live query failed: " + err.Error()
				return
			}
			if c.taskGen == gen {
				c.stopTask = s
			} else {
				go s(ctx)
			}
		})
	}()
}

func (c *Root) project() *Project {
	for i := range c.Projects {
		if c.Projects[i].ID == c.ActiveProject {
			return &c.Projects[i]
		}
	}
	return nil
}

// projectsListed bounds the projects the nav lists until "All projects"
// is pressed: vugu renders the whole tree on every change, so a nav of
// hundreds of buttons would make every card move slow.
const projectsListed = 30

// ProjectsShown are the projects the nav lists: the first projectsListed
// and the active one, or all once asked for.
func (c *Root) ProjectsShown() []Project {
	if c.AllProjects || len(c.Projects) <= projectsListed {
		return c.Projects
	}
	shown := c.Projects[:projectsListed:projectsListed]
	if i := slices.IndexFunc(c.Projects, func(p Project) bool { return p.ID == c.ActiveProject }); i >= projectsListed {
		shown = append(shown, c.Projects[i])
	}
	return shown
}

// ShowAllProjects lists every project in the nav.
func (c *Root) ShowAllProjects(e vugu.DOMEvent) { c.AllProjects = true }

// ProjectName is the active project's name.
func (c *Root) ProjectName() string {
	if p := c.project(); p != nil {
		return p.Name
	}
	return ""
}

// Columns are the active project's tasks by status.
func (c *Root) Columns() []Column { return columnsOf(c.Tasks, c.Assignee) }

// UserName is a user's display name.
func (c *Root) UserName(id string) string {
	for _, u := range c.Users {
		if u.ID == id {
			return u.Name
		}
	}
	if id == "" {
		return "Unassigned"
	}
	return id
}

var priorityLabels = []string{"None", "Low", "Medium", "High"}

func PriorityLabel(p int64) string {
	if p < 0 || int(p) >= len(priorityLabels) {
		return strconv.FormatInt(p, 10)
	}
	return priorityLabels[p]
}

// Priorities are the choices of the priority field.
func (c *Root) Priorities() []int64 { return []int64{0, 1, 2, 3} }

func (c *Root) Statuses() []string { return model.Statuses }

func StatusLabel(s string) string { return statusLabel(s) }

func newID(prefix string) string {
	var b [10]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%x", prefix, b)
}

// ---- event handlers (called with the render lock held) ----

func (c *Root) SelectProject(e vugu.DOMEvent, id string) {
	c.View = "board"
	c.selectProject(id)
}

func (c *Root) SetAssignee(e vugu.DOMEvent) {
	c.Assignee = e.PropString("target", "value")
}

func (c *Root) ShowView(e vugu.DOMEvent, view string) {
	c.View = view
	if c.Day.IsZero() {
		c.Day = c.today()
	}
}

func (c *Root) DismissNotice(e vugu.DOMEvent) { c.Notice = "" }

// NewTask opens the editor on a new backlog task.
func (c *Root) NewTask(e vugu.DOMEvent) {
	if c.project() == nil {
		return
	}
	c.View = "board"
	c.Editing = &Draft{ID: newID("t"), Status: model.Statuses[0], Assignee: c.Assignee, New: true}
	c.focusID = "edit-title"
}

func (c *Root) EditTask(e vugu.DOMEvent, id string) {
	for _, t := range c.Tasks {
		if t.ID == id {
			c.Editing = &Draft{ID: t.ID, Title: t.Title, Description: t.Description, Status: t.Status,
				Assignee: t.Assignee, Due: t.Due, Priority: t.Priority}
			c.focusID = "edit-title"
			return
		}
	}
}

func (c *Root) CancelEdit(e vugu.DOMEvent) {
	if c.Editing != nil && !c.Editing.New {
		c.focusID = "task-" + c.Editing.ID
	}
	c.Editing = nil
}

// SaveEdit writes the draft: an insert at the end of its column for a new
// task, an update of the edited fields otherwise.
func (c *Root) SaveEdit(e vugu.DOMEvent) {
	e.PreventDefault()
	d := c.Editing
	p := c.project()
	if d == nil || p == nil {
		return
	}
	if v := formValues(e, "title", "description", "status", "assignee", "due", "priority"); v != nil {
		d.Title, d.Description, d.Status, d.Assignee, d.Due = v["title"], v["description"], v["status"], v["assignee"], v["due"]
		d.Priority, _ = strconv.ParseInt(v["priority"], 10, 64)
	}
	if !slices.Contains(model.Statuses, d.Status) {
		d.Status = model.Statuses[0]
	}
	if strings.TrimSpace(d.Title) == "" {
		d.Title = "Untitled task"
	}
	c.Editing = nil
	c.focusID = "task-" + d.ID
	var old *Task
	for i := range c.Tasks {
		if c.Tasks[i].ID == d.ID {
			old = &c.Tasks[i]
		}
	}
	pos := 0.0
	if old != nil && old.Status == d.Status {
		pos = old.Position
	} else {
		_, col := columnPositions(c.Tasks, d.Status, d.ID)
		pos, _ = placement(col, len(col)) // the end: never a renumber
	}
	t := Task{ID: d.ID, Title: d.Title, Description: d.Description, Status: d.Status, Position: pos,
		Assignee: d.Assignee, Due: d.Due, Priority: d.Priority}
	if old != nil {
		*old = t
	} else {
		c.Tasks = append(c.Tasks, t)
	}
	project, ws, isNew := p.ID, p.Workspace, d.New
	c.writeTasks([]string{t.ID}, func(ctx context.Context) error {
		if isNew {
			_, err := c.db.Exec(ctx, `INSERT INTO tasks(id, workspace_id, project_id, title, description, status, position, assignee_id, due_date, priority)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, ws, project, t.Title, t.Description, t.Status, t.Position, t.Assignee, t.Due, t.Priority)
			return err
		}
		_, err := c.db.Exec(ctx, `UPDATE tasks SET title = ?, description = ?, status = ?, position = ?, assignee_id = ?, due_date = ?, priority = ?
			WHERE id = ?`, t.Title, t.Description, t.Status, t.Position, t.Assignee, t.Due, t.Priority, t.ID)
		return err
	})
}

// ArchiveTask hides the edited task; it stays in the database.
func (c *Root) ArchiveTask(e vugu.DOMEvent) {
	c.removeEdited(`UPDATE tasks SET archived = 1 WHERE id = ?`)
}

// DeleteTask removes the edited task.
func (c *Root) DeleteTask(e vugu.DOMEvent) { c.removeEdited(`DELETE FROM tasks WHERE id = ?`) }

func (c *Root) removeEdited(sql string) {
	d := c.Editing
	if d == nil {
		return
	}
	c.Editing = nil
	c.Tasks = slices.DeleteFunc(c.Tasks, func(t Task) bool { return t.ID == d.ID })
	c.focusID = "new-task"
	if d.New {
		return
	}
	id := d.ID
	c.writeTasks([]string{id}, func(ctx context.Context) error {
		_, err := c.db.Exec(ctx, sql, id)
		return err
	})
}

// moveTask moves a card dStatus columns right and dIndex places down.
func (c *Root) moveTask(id string, dStatus, dIndex int) {
	i := slices.IndexFunc(c.Tasks, func(t Task) bool { return t.ID == id })
	if i < 0 {
		return
	}
	t := &c.Tasks[i]
	si := slices.Index(model.Statuses, t.Status)
	ns := si + dStatus
	if ns < 0 || ns >= len(model.Statuses) {
		return
	}
	ids, _ := columnPositions(c.Tasks, t.Status, "")
	at := slices.Index(ids, id) + dIndex
	status := model.Statuses[ns]
	colIDs, col := columnPositions(c.Tasks, status, id)
	if dStatus == 0 && (at < 0 || at > len(col)) {
		return
	}
	at = max(0, min(at, len(col)))
	pos, renumber := placement(col, at)
	defer func() {
		if !c.drawMove(id) {
			// Rendered: the card is a new element in its new column.
			c.focusID = "task-" + id
		}
	}()
	if renumber {
		// Spread the column out again: every card gets a whole position.
		colIDs = slices.Insert(colIDs, at, id)
		stmts := make([]client.Statement, len(colIDs))
		for k, tid := range colIDs {
			stmts[k] = client.Statement{SQL: `UPDATE tasks SET status = ?, position = ? WHERE id = ?`, Args: []any{status, float64(k + 1), tid}}
			if j := slices.IndexFunc(c.Tasks, func(t Task) bool { return t.ID == tid }); j >= 0 {
				c.Tasks[j].Status, c.Tasks[j].Position = status, float64(k+1)
			}
		}
		c.writeTasks(colIDs, func(ctx context.Context) error { return c.run(ctx, stmts) })
		return
	}
	t.Status, t.Position = status, pos
	c.writeTasks([]string{id}, func(ctx context.Context) error {
		return c.run(ctx, []client.Statement{{SQL: `UPDATE tasks SET status = ?, position = ? WHERE id = ?`, Args: []any{status, pos, id}}})
	})
}

// run runs a write's statements, in one transaction when there are
// several (through runStatements when set: tests).
func (c *Root) run(ctx context.Context, stmts []client.Statement) error {
	if c.runStatements != nil {
		return c.runStatements(ctx, stmts)
	}
	if len(stmts) == 1 {
		_, err := c.db.Exec(ctx, stmts[0].SQL, stmts[0].Args...)
		return err
	}
	_, err := c.db.Batch(ctx, stmts...)
	return err
}

// HandleKey is the board's keyboard: n creates a task; on a focused card,
// Alt+←/→ moves it between columns, Alt+↑/↓ reorders it and Enter edits
// it; Escape closes the editor. target is the event target's id and tag
// its tag name. It reports whether it acted (the page then prevents the
// key's default and re-renders, unless a move drew itself: drawMove). boot.js calls it, through
// hearthBoardKey, only for those keys: any other key costs no Go work and
// no render (vugu renders the whole tree after every event it handles).
func (c *Root) HandleKey(key, target, tag string, alt, ctrl, meta bool) bool {
	tag = strings.ToUpper(tag)
	typing := tag == "INPUT" || tag == "TEXTAREA" || tag == "SELECT"
	if key == "Escape" && c.Editing != nil {
		c.CancelEdit(nil)
		return true
	}
	if typing || c.Editing != nil || ctrl || meta {
		return false
	}
	if key == "n" && !alt {
		c.NewTask(nil)
		return true
	}
	id, onCard := strings.CutPrefix(target, "task-")
	if !onCard {
		return false
	}
	if key == "Enter" {
		c.EditTask(nil, id)
		return true
	}
	if !alt {
		return false
	}
	return c.moveBy(id, arrowAction[key])
}

// arrowAction is the move action of each arrow key (with Alt).
var arrowAction = map[string]string{"ArrowLeft": "left", "ArrowRight": "right", "ArrowUp": "up", "ArrowDown": "down"}

// firstPaintHold bounds how long a board that opened with nothing of its
// own on screen (a first visit, no result cache) waits for its first
// tasks before drawing what it has. Its first results arrive one by one
// (the sync status, projects, users, then the tasks of the project the
// projects chose), and vugu renders and the browser lays out the whole
// tree for each: on a first visit, while the worker and V8's optimizing
// compiler use the cores, those intermediate frames (the empty board, the
// project list without tasks) delayed the tasks by 150–300 ms on the
// 2-core machine (2026-12-07, issue 15). Drawn once, they come sooner.
const firstPaintHold = 400 * time.Millisecond

// holdsRender reports whether a change made at now should wait to be
// drawn: the board is holding for its first tasks (holdUntil), and has
// neither tasks, nor an error, nor the live news that there are no
// projects (and so no tasks to wait for).
func (c *Root) holdsRender(now time.Time) bool {
	return now.Before(c.holdUntil) && !c.showsOwnContent() && !(c.liveProjects && len(c.Projects) == 0)
}

// showsOwnContent reports whether the board shows more than its opening
// state: tasks (cached or live), or why it has none (an error). Until
// then the page keeps the saved frame of the last visit (index.html).
func (c *Root) showsOwnContent() bool {
	return c.TasksReady || c.Notice != "" || (c.Status != "" && c.Status != OpeningStatus)
}

// AfterRender runs after every render: it moves focus where the last
// action asked (a moved card is a new element in its new column), drops
// the saved frame once the board shows content of its own and marks the
// first paint of tasks.
func (c *Root) AfterRender() {
	if c.focusID != "" {
		focusElement(c.focusID)
		if !strings.HasPrefix(c.focusID, "task-") || slices.ContainsFunc(c.Tasks, func(t Task) bool { return "task-"+t.ID == c.focusID }) {
			c.focusID = ""
		}
	}
	if !c.frameDropped && c.showsOwnContent() {
		c.frameDropped = true
		dropSavedFrame()
	}
	if !c.painted && c.TasksReady {
		c.painted = true
		markMilestone("tasks-painted")
		if c.Stale {
			markMilestone("tasks-cached")
		}
	}
	if c.TasksReady && !c.Stale && !c.livePainted && c.db != nil {
		c.livePainted = true
		markMilestone("tasks-live")
	}
}

func editorTitle(d *Draft) string {
	if d.New {
		return "New task"
	}
	return "Edit task"
}

// FocusCard follows focus into a card so that it shows its actions; it
// reports whether that changed anything (a render).
func (c *Root) FocusCard(id string) bool {
	if c.ActiveCard == id {
		return false
	}
	c.ActiveCard = id
	return true
}

func dueAndPriority(t Task) string {
	var parts []string
	if t.Due != "" {
		parts = append(parts, "due "+t.Due)
	}
	if t.Priority > 0 {
		parts = append(parts, PriorityLabel(t.Priority))
	}
	return strings.Join(parts, " · ")
}

// EmptyText explains an empty board: the first sync still arriving, or
// no data at all.
func (c *Root) EmptyText() string {
	if p := c.Sync.InitialSync; p.Active {
		return "Receiving the workspace from the server: " + initialSyncLabel(p) + "."
	}
	if c.Sync.Enabled {
		return "No projects yet: they arrive with the first sync."
	}
	return "No projects yet."
}

// syncStatusJS is globalThis.hearthSyncStatus's answer: the worker's
// sync status now, in hearth.js's shape.
func (c *Root) syncStatusJS(ctx context.Context) map[string]any {
	db := c.syncDB.Load()
	switch {
	case db != nil:
		st, err := db.SyncStatus(ctx)
		if err != nil {
			return unsyncedStatusJS("error: "+err.Error(), navigatorOnline())
		}
		return st.Page()
	case c.localOnly.Load():
		return unsyncedStatusJS("local only", navigatorOnline())
	default:
		return unsyncedStatusJS("opening", navigatorOnline())
	}
}

// SignIn switches the board to the demo user picked in the sync bar.
func (c *Root) SignIn(e vugu.DOMEvent) {
	if user := e.PropString("target", "value"); user != "" && user != c.Me {
		switchUser(user)
	}
}

// tokenWait bounds how long the board's database waits for the demo sync
// token before it opens without one. boot.js asked for it as the page
// started, before the board's bundle loaded, so on a network that answers
// it is there; on one that accepts requests and never answers, the board
// still shows its local data.
const tokenWait = time.Second

// tokenReply is /demo/token's answer as boot.js fetched it.
type tokenReply struct {
	value string // "" when the server signs no tokens
	// expiresIn is the token's lifetime in seconds (the server's
	// expiresAt is on the server's clock, which this page cannot judge).
	expiresIn int64
	// unreachable: the server could not be asked (offline).
	unreachable bool
}

// tokenRenewal is when to ask for a new token, given one received at now:
// a minute before it expires, timed on this page's own clock from its
// lifetime. A device whose clock is far from the server's (a phone set a
// year off) then neither renews at once and over again nor lets the token
// lapse; and now's monotonic reading keeps the wait right if the wall
// clock is changed meanwhile.
func tokenRenewal(now time.Time, t tokenReply) time.Time {
	return now.Add(time.Duration(t.expiresIn)*time.Second - time.Minute)
}

// renewToken hands the worker a new demo sync token before the current
// one (first, received at received) expires; the worker pauses sync on an
// expired token and resumes with a new one. With first unreachable the
// board opened while the server was (an offline reload): it has no token
// yet and asks as soon as the page is back online. Never more often than
// every 5 s, whatever the server answers.
func renewToken(ctx context.Context, db *client.DB, first tokenReply, received time.Time) {
	online := make(chan struct{}, 1)
	stop := watchOnline(func(on bool) {
		if on {
			select {
			case online <- struct{}{}:
			default:
			}
		}
	})
	defer stop()
	unreachable, renewAt := first.unreachable, tokenRenewal(received, first)
	for {
		wait := time.Until(renewAt)
		if unreachable {
			wait = time.Minute
		}
		select {
		case <-ctx.Done():
			return
		case <-online:
			if !unreachable {
				continue // back online with a token that is still good
			}
		case <-time.After(max(wait, 5*time.Second)):
		}
		t := demoToken(ctx, true)
		switch {
		case t.unreachable:
			unreachable = true // still unreachable: wait for the network
		case t.value == "":
			return // the server signs no tokens
		default:
			db.SetSyncToken(ctx, t.value)
			unreachable, renewAt = false, tokenRenewal(time.Now(), t)
		}
	}
}
