package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// watchers is a page's copies of its watched results, by subscription.
type watchers struct {
	c      *client
	db     int64
	copies map[any][]any
	sqls   map[any]string
}

func newWatchers(c *client, db int64) *watchers {
	return &watchers{c: c, db: db, copies: map[any][]any{}, sqls: map[any]string{}}
}

// watch subscribes to sql and keeps the copy of its result; it returns
// the subscription.
func (p *watchers) watch(sql string) any {
	w := p.c.ok("watch", map[string]any{"db": p.db, "sql": sql})
	p.copies[w["sub"]] = w["result"].(map[string]any)["rows"].([]any)
	p.sqls[w["sub"]] = sql
	return w["sub"]
}

// check applies the pushes that came before the reply to a query sent now
// and fails unless every copy equals its query run afresh (each query's
// reply comes after the pushes of the commits before it).
func (p *watchers) check(t *testing.T, what string) {
	t.Helper()
	for sub, sql := range p.sqls {
		qid := p.c.send("query", map[string]any{"db": p.db, "sql": sql})
		for {
			m := p.c.next()
			if m["id"] == qid {
				fresh := m["ok"].(map[string]any)["rows"].([]any)
				if fmt.Sprint(p.copies[sub]) != fmt.Sprint(fresh) {
					t.Fatalf("%s: the page's copy of %q diverged:\n got %v\nwant %v", what, sql, p.copies[sub], fresh)
				}
				break
			}
			switch {
			case m["delta"] != nil:
				p.copies[m["sub"]] = apply(p.copies[m["sub"]], m["delta"].(map[string]any))
			case m["full"] != nil:
				p.copies[m["sub"]] = m["full"].(map[string]any)["rows"].([]any)
			default:
				t.Fatalf("%s: message %v", what, m)
			}
		}
	}
}

func runs(c *client, db int64) int64 { return info(c, db)["liveQueryRuns"].(int64) }

const boardSchema = `CREATE TABLE projects(id TEXT PRIMARY KEY, name TEXT);
	CREATE TABLE tasks(id TEXT PRIMARY KEY, project_id TEXT REFERENCES projects(id), status TEXT, pos REAL, archived INTEGER NOT NULL DEFAULT 0);
	INSERT INTO projects VALUES ('p1', 'One'), ('p2', 'Two');
	INSERT INTO tasks(id, project_id, status, pos) VALUES ('t1', 'p1', 'todo', 1), ('t2', 'p1', 'todo', 2), ('t3', 'p2', 'done', 1)`

// The board's project list counts each project's tasks: a card's move
// (its status and position) changes no count, so it re-runs nothing;
// archiving a card, adding or deleting one does.
func TestAnUpdateOfColumnsAQueryDoesNotNameReRunsNothing(t *testing.T) {
	c := newClient(t)
	db := c.open("columns")
	c.ok("exec", map[string]any{"db": db, "sql": boardSchema})
	const projects = `SELECT p.id, p.name, (SELECT count(*) FROM tasks t WHERE t.project_id = p.id AND t.archived = 0) AS n FROM projects p ORDER BY p.name`
	pg := newWatchers(c, db)
	pg.watch(projects)
	before := runs(c, db)
	c.ok("exec", map[string]any{"db": db, "sql": "UPDATE tasks SET status = 'doing', pos = 7 WHERE id = 't1'"})
	c.ok("batch", map[string]any{"db": db, "statements": []any{
		map[string]any{"sql": "UPDATE tasks SET status = ? WHERE id = ?", "params": []any{"done", "t2"}},
		map[string]any{"sql": "UPDATE tasks SET pos = pos + 1"},
	}})
	c.noPush(t)
	if got := runs(c, db); got != before {
		t.Fatalf("moves re-ran the project list %d times", got-before)
	}
	if stats := info(c, db)["liveQueryStats"].([]any); stats[0].(map[string]any)["spared"] != int64(2) {
		t.Fatalf("liveQueryStats %v: want 2 commits spared", stats)
	}
	for _, write := range []string{
		"UPDATE tasks SET archived = 1 WHERE id = 't1'",
		"INSERT INTO tasks(id, project_id, status, pos) VALUES ('t4', 'p2', 'todo', 3)",
		"DELETE FROM tasks WHERE id = 't3'",
		"UPDATE projects SET name = 'Zero' WHERE id = 'p2'",
		// A move and a new card in one commit: the card counts.
		"UPDATE tasks SET status = 'todo' WHERE id = 't2'; INSERT INTO tasks(id, project_id, status, pos) VALUES ('t5', 'p1', 'todo', 4)",
	} {
		c.ok("exec", map[string]any{"db": db, "sql": write})
		pg.check(t, write)
	}
	if got := runs(c, db); got != before+5 {
		t.Fatalf("the five writes that change it re-ran it %d times, want 5", got-before)
	}
}

// Each case's write updates only columns its query does not name, yet
// changes its result: the query is re-run and the watchers sees the change.
func TestColumnUpdatesThatCanChangeMoreReRun(t *testing.T) {
	for i, tc := range []struct {
		name, schema, query, write string
	}{{
		name:   "the updated column is named",
		schema: boardSchema,
		query:  "SELECT id, status FROM tasks ORDER BY id",
		write:  "UPDATE tasks SET status = 'doing' WHERE id = 't1'",
	}, {
		name:   "a LIMIT, whose rows an index over the updated column picks",
		schema: boardSchema + "; CREATE INDEX tasks_by_status ON tasks(project_id, status)",
		query:  "SELECT id FROM tasks WHERE project_id = 'p1' LIMIT 1",
		write:  "UPDATE tasks SET status = 'a-first' WHERE id = 't2'",
	}, {
		name:   "an update that deletes another row by REPLACE",
		schema: "CREATE TABLE u(id INTEGER PRIMARY KEY, email TEXT UNIQUE ON CONFLICT REPLACE, note TEXT); INSERT INTO u VALUES (1, 'a', 'x'), (2, 'b', 'y')",
		query:  "SELECT count(*) FROM u",
		write:  "UPDATE u SET email = 'a' WHERE id = 2",
	}, {
		name:   "UPDATE OR REPLACE of the primary key",
		schema: "CREATE TABLE u(id INTEGER PRIMARY KEY, note TEXT); INSERT INTO u VALUES (1, 'x'), (2, 'y')",
		query:  "SELECT note FROM u ORDER BY note",
		write:  "UPDATE OR REPLACE u SET id = 1 WHERE id = 2",
	}, {
		name:   "a generated column",
		schema: "CREATE TABLE g(id INTEGER PRIMARY KEY, a INTEGER, twice INTEGER AS (a * 2)); INSERT INTO g VALUES (1, 1)",
		query:  "SELECT id, twice FROM g",
		write:  "UPDATE g SET a = 5",
	}, {
		name: "a trigger's update of a column the query names",
		schema: boardSchema + `; CREATE TRIGGER touch AFTER UPDATE OF status ON tasks BEGIN
			UPDATE projects SET name = name || '*' WHERE id = new.project_id; END`,
		query: "SELECT id, name FROM projects ORDER BY id",
		write: "UPDATE tasks SET status = 'doing' WHERE id = 't1'",
	}, {
		name:   "a view, whose text the query does not show",
		schema: boardSchema + "; CREATE INDEX tasks_by_status ON tasks(project_id, status); CREATE VIEW one_of_p1 AS SELECT id FROM tasks WHERE project_id = 'p1' LIMIT 1",
		query:  "SELECT id FROM one_of_p1",
		write:  "UPDATE tasks SET status = 'a-first' WHERE id = 't2'",
	}, {
		name: "a foreign key's cascade",
		schema: `PRAGMA foreign_keys = ON; CREATE TABLE parent(id TEXT PRIMARY KEY, name TEXT);
			CREATE TABLE child(id INTEGER PRIMARY KEY, pid TEXT REFERENCES parent(id) ON UPDATE CASCADE);
			INSERT INTO parent VALUES ('a', 'A'); INSERT INTO child VALUES (1, 'a')`,
		query: "SELECT id, pid FROM child",
		write: "UPDATE parent SET id = 'b'",
	}, {
		name:   "an order-dependent aggregate",
		schema: boardSchema + "; CREATE INDEX tasks_by_status ON tasks(status)",
		query:  "SELECT group_concat(id) FROM tasks INDEXED BY tasks_by_status",
		write:  "UPDATE tasks SET status = 'a-first' WHERE id = 't1'",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t)
			db := c.open(fmt.Sprint("more-", i))
			c.ok("exec", map[string]any{"db": db, "sql": tc.schema})
			pg := newWatchers(c, db)
			sub := pg.watch(tc.query)
			was := fmt.Sprint(pg.copies[sub])
			c.ok("exec", map[string]any{"db": db, "sql": tc.write})
			pg.check(t, tc.write)
			if fmt.Sprint(pg.copies[sub]) == was {
				t.Fatalf("the write did not change the result (%v): the case tests nothing", was)
			}
		})
	}
}

// Random writes of every kind under watches of several shapes: after each
// commit every watchers's copy equals its query run afresh.
func TestWatchesStayExactUnderRandomColumnWrites(t *testing.T) {
	c := newClient(t)
	db := c.open("random-columns")
	c.ok("exec", map[string]any{"db": db, "sql": boardSchema + `; CREATE INDEX tasks_by_status ON tasks(project_id, status);
		CREATE TABLE tags(id INTEGER PRIMARY KEY, task_id TEXT UNIQUE ON CONFLICT REPLACE, label TEXT)`})
	queries := []string{
		`SELECT p.id, (SELECT count(*) FROM tasks t WHERE t.project_id = p.id AND t.archived = 0) AS n FROM projects p ORDER BY p.id`,
		"SELECT status, count(*), sum(pos) FROM tasks GROUP BY status ORDER BY status",
		"SELECT id, pos FROM tasks WHERE archived = 0 ORDER BY pos, id",
		"SELECT count(*) FROM tasks",
		"SELECT count(*) FROM tags",
		"SELECT t.id, g.label FROM tasks t JOIN tags g ON g.task_id = t.id ORDER BY t.id",
		"SELECT id FROM tasks WHERE project_id = 'p1' LIMIT 2",
	}
	pg := newWatchers(c, db)
	for _, q := range queries {
		pg.watch(q)
	}
	r := rand.New(rand.NewPCG(7, 8))
	task := func() string { return fmt.Sprintf("t%d", 1+r.IntN(8)) }
	for step := range 200 {
		var sql string
		var params []any
		switch r.IntN(8) {
		case 0:
			sql, params = "UPDATE tasks SET status = ?, pos = ? WHERE id = ?", []any{[]string{"todo", "doing", "done"}[r.IntN(3)], float64(r.IntN(10)), task()}
		case 1:
			sql, params = "UPDATE tasks SET archived = ? WHERE id = ?", []any{int64(r.IntN(2)), task()}
		case 2:
			sql, params = "UPDATE tasks SET project_id = ? WHERE id = ?", []any{[]string{"p1", "p2"}[r.IntN(2)], task()}
		case 3:
			sql, params = "INSERT OR IGNORE INTO tasks(id, project_id, status, pos) VALUES (?, 'p1', 'todo', ?)", []any{task(), float64(r.IntN(10))}
		case 4:
			sql, params = "DELETE FROM tasks WHERE id = ?", []any{task()}
		case 5:
			sql, params = "INSERT INTO tags(task_id, label) VALUES (?, ?)", []any{task(), fmt.Sprint("l", step)}
		case 6:
			sql, params = "UPDATE tags SET task_id = ? WHERE id = (SELECT min(id) FROM tags)", []any{task()}
		default:
			sql, params = "UPDATE tags SET label = ? WHERE task_id = ?", []any{fmt.Sprint("m", step), task()}
		}
		c.ok("exec", map[string]any{"db": db, "sql": sql, "params": params})
		pg.check(t, fmt.Sprintf("step %d (%s %v)", step, sql, params))
	}
}

// What a table's columns mean is found again after a schema change: a
// column that a unique index now covers can lose rows to a REPLACE.
func TestAColumnALaterUniqueIndexCoversReRuns(t *testing.T) {
	c := newClient(t)
	db := c.open("later-index")
	c.ok("exec", map[string]any{"db": db, "sql": "CREATE TABLE u(id INTEGER PRIMARY KEY, email TEXT, note TEXT); INSERT INTO u VALUES (1, 'a', 'x'), (2, 'b', 'y')"})
	pg := newWatchers(c, db)
	pg.watch("SELECT count(*) FROM u")
	c.ok("exec", map[string]any{"db": db, "sql": "UPDATE u SET email = 'c' WHERE id = 2"})
	c.noPush(t) // spared: no row can go
	c.ok("exec", map[string]any{"db": db, "sql": "UPDATE u SET email = 'b' WHERE id = 2; CREATE UNIQUE INDEX u_email ON u(email)"})
	pg.check(t, "the index")
	c.ok("exec", map[string]any{"db": db, "sql": "UPDATE OR REPLACE u SET email = 'a' WHERE id = 2"})
	pg.check(t, "a REPLACE")
	if n := pg.copies[firstKey(pg.copies)]; fmt.Sprint(n) != "[[1]]" {
		t.Fatalf("count %v, want [[1]]", n)
	}
}

func firstKey(m map[any][]any) any {
	for k := range m {
		return k
	}
	return nil
}
