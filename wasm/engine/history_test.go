package engine

import (
	"fmt"
	"strings"
	"testing"
)

// TestHistoryThroughTheEngine: the history op names the device that
// wrote each field of a synced row and lists the row's journal; on a
// database that does not sync it still answers with the values; bad
// requests get stable codes.
func TestHistoryThroughTheEngine(t *testing.T) {
	url := syncServer(t)
	a, b := newPage(t), newPage(t)
	run := hopRuns.Add(1)
	dbA, dbB := a.openSynced(fmt.Sprintf("hist-a-%d", run), url), b.openSynced(fmt.Sprintf("hist-b-%d", run), url)
	a.call("exec", map[string]any{"db": dbA, "sql": "INSERT INTO tasks(id, title) VALUES ('t1', 'from A')"})
	watch := b.call("watch", map[string]any{"db": dbB, "sql": "SELECT title FROM tasks WHERE id = 't1'"})
	sub := watch["sub"].(int64)
	b.waitUntil("B to receive t1", func() bool { return strings.Contains(fmt.Sprint(b.latest(sub)), "from A") })
	h := b.call("history", map[string]any{"db": dbB, "table": "tasks", "key": []any{"t1"}})
	if h["exists"] != true || h["table"] != "tasks" {
		t.Fatalf("history: %v", h)
	}
	fields := h["fields"].([]any)
	var title map[string]any
	for _, f := range fields {
		if m := f.(map[string]any); m["column"] == "title" {
			title = m
		}
	}
	writer, _ := title["writer"].(map[string]any)
	if title["value"] != "from A" || writer == nil || writer["node"] == "" || title["byInsert"] != true {
		t.Fatalf("title: %v", title)
	}
	ja := a.call("history", map[string]any{"db": dbA, "table": "tasks", "key": []any{"t1"}})["journal"].([]any)
	if len(ja) != 1 || ja[0].(map[string]any)["op"] != "insert" {
		t.Fatalf("A's journal for t1: %v", ja)
	}
	if node := ja[0].(map[string]any)["stamp"].(map[string]any)["node"]; node != writer["node"] {
		t.Fatalf("A's entry is stamped by %v, B says %v wrote it", node, writer["node"])
	}

	a.fail("history", map[string]any{"db": dbA, "table": "tasks"}, "BAD_REQUEST")
	a.fail("history", map[string]any{"db": dbA, "table": "nope", "key": []any{"x"}}, "NOT_FOUND")
	a.fail("history", map[string]any{"db": dbA, "table": "tasks", "key": []any{"a", "b"}}, "BAD_REQUEST")

	local := a.call("open", map[string]any{"name": fmt.Sprintf("hist-local-%d", run), "storage": "memory",
		"migrations": []any{map[string]any{"version": int64(1), "sql": syncTestMigration}}})["db"].(int64)
	a.call("exec", map[string]any{"db": local, "sql": "INSERT INTO tasks(id, title) VALUES ('t1', 'local')"})
	lh := a.call("history", map[string]any{"db": local, "table": "tasks", "key": []any{"t1"}})
	if lh["exists"] != true || len(lh["journal"].([]any)) != 0 {
		t.Fatalf("history of a local database: %v", lh)
	}
}

// TestInfoReportsEachLiveQuery: info lists each live query with its
// subscribers and evaluations (the inspector's live-query panel).
func TestInfoReportsEachLiveQuery(t *testing.T) {
	p := newPage(t)
	db := p.call("open", map[string]any{"name": fmt.Sprintf("stats-%d", hopRuns.Add(1)), "storage": "memory",
		"migrations": []any{map[string]any{"version": int64(1), "sql": syncTestMigration}}})["db"].(int64)
	const q = "SELECT id FROM tasks ORDER BY id"
	p.call("watch", map[string]any{"db": db, "sql": q})
	p.call("watch", map[string]any{"db": db, "sql": q})
	p.call("exec", map[string]any{"db": db, "sql": "INSERT INTO tasks(id, title) VALUES ('t1', 'x')"})
	stats, _ := p.call("info", map[string]any{"db": db})["liveQueryStats"].([]any)
	if len(stats) != 1 {
		t.Fatalf("liveQueryStats: %v", stats)
	}
	s := stats[0].(map[string]any)
	if s["sql"] != q || s["subscribers"] != int64(2) || s["runs"] != int64(1) || s["patches"] != int64(1) || s["whyRerun"] != "" {
		t.Fatalf("stats: %v, want 2 subscribers, 1 run (the first watch) and 1 patch (the insert)", s)
	}
	if _, ok := s["totalMs"].(float64); !ok {
		t.Fatalf("totalMs: %v", s["totalMs"])
	}
}
