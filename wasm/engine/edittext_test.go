package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/wasm/protocol"
)

func (p *page) openText(name, url string) int64 {
	return p.call("open", map[string]any{"name": name, "storage": "memory",
		"migrations": []any{map[string]any{"version": int64(1), "sql": syncTestMigration}},
		"sync":       map[string]any{"url": url, "tables": []any{map[string]any{"name": "tasks", "text": []any{"title"}}}},
	})["db"].(int64)
}

func (p *page) offline(db int64) {
	p.t.Helper()
	sub := p.call("watch", map[string]any{"db": db, "sync": true})["sub"].(int64)
	p.call("network", map[string]any{"online": false})
	p.waitUntil("the sync status to show offline", func() bool {
		st := p.latest(sub)
		return st != nil && st["status"].(map[string]any)["state"] == "offline"
	})
	p.call("unwatch", map[string]any{"db": db, "sub": sub})
}

func insertAt(at int64, s string) map[string]any { return map[string]any{"at": at, "insert": s} }

// TestEditTextKeepsIntentAcrossReplicas: on "aa", device A types "a" at
// 0 and device B types "X" at 1, both offline, through editText. Back
// online, both live queries read "aaXa": A's character leads, where A
// typed it (a plain UPDATE to "aaa" is a diff that appends it, giving
// "aXaa"). Each device's own watch saw its edit at once.
func TestEditTextKeepsIntentAcrossReplicas(t *testing.T) {
	url := syncServer(t, appschema.Table{Name: "tasks", Text: []string{"title"}})
	a, b := newPage(t), newPage(t)
	run := hopRuns.Add(1)
	dbA, dbB := a.openText(fmt.Sprintf("edit-a-%d", run), url), b.openText(fmt.Sprintf("edit-b-%d", run), url)
	const q = "SELECT title FROM tasks WHERE id = 't1'"
	subA := a.call("watch", map[string]any{"db": dbA, "sql": q})["sub"].(int64)
	subB := b.call("watch", map[string]any{"db": dbB, "sql": q})["sub"].(int64)
	reads := func(p *page, sub int64, want string) func() bool {
		return func() bool { return strings.Contains(fmt.Sprint(p.latest(sub)), "["+want+"]") }
	}
	a.call("exec", map[string]any{"db": dbA, "sql": "INSERT INTO tasks(id, title) VALUES ('t1', 'aa')"})
	b.waitUntil("B to read aa", reads(b, subB, "aa"))
	a.offline(dbA)
	b.offline(dbB)

	got := a.call("editText", map[string]any{"db": dbA, "table": "tasks", "key": []any{"t1"}, "column": "title", "ops": []any{insertAt(0, "a")}})
	if got["text"] != "aaa" {
		t.Fatalf("A's editText: %v", got)
	}
	a.waitUntil("A's watch to read aaa", reads(a, subA, "aaa"))
	got = b.call("editText", map[string]any{"db": dbB, "table": "tasks", "key": []any{"t1"}, "column": "title", "ops": []any{insertAt(1, "X")}})
	if got["text"] != "aXa" {
		t.Fatalf("B's editText: %v", got)
	}
	b.waitUntil("B's watch to read aXa", reads(b, subB, "aXa"))

	a.call("network", map[string]any{"online": true})
	b.call("network", map[string]any{"online": true})
	a.waitUntil("A to read aaXa", reads(a, subA, "aaXa"))
	b.waitUntil("B to read aaXa", reads(b, subB, "aaXa"))
	entries := a.call("query", map[string]any{"db": dbA, "sql": "SELECT op FROM _hearth_journal WHERE tbl = 'tasks' ORDER BY seq"})["rows"].([]any)
	if len(entries) != 2 {
		t.Fatalf("A's journal: %v, want the insert and one update", entries)
	}
}

// TestEditTextRequests: bad requests get stable codes and write nothing;
// a forwarded edit retried after a hand-over (same write id) applies once.
func TestEditTextRequests(t *testing.T) {
	url := syncServer(t, appschema.Table{Name: "tasks", Text: []string{"title"}})
	p := newPage(t)
	run := hopRuns.Add(1)
	db := p.openText(fmt.Sprintf("edit-req-%d", run), url)
	p.call("exec", map[string]any{"db": db, "sql": "INSERT INTO tasks(id, title) VALUES ('t1', 'abc')"})
	edit := func(fields map[string]any) map[string]any {
		m := map[string]any{"db": db, "table": "tasks", "key": []any{"t1"}, "column": "title", "ops": []any{insertAt(0, "x")}}
		for k, v := range fields {
			m[k] = v
		}
		return m
	}
	for _, c := range []struct {
		fields map[string]any
		code   string
	}{
		{map[string]any{"column": "done"}, protocol.CodeBadRequest},
		{map[string]any{"table": "nope"}, protocol.CodeNotFound},
		{map[string]any{"key": []any{"t2"}}, protocol.CodeNotFound},
		{map[string]any{"key": []any{"t1", "x"}}, protocol.CodeBadRequest},
		{map[string]any{"key": "t1"}, protocol.CodeBadRequest},
		{map[string]any{"ops": "x"}, protocol.CodeBadRequest},
		{map[string]any{"ops": []any{map[string]any{"at": int64(0)}}}, protocol.CodeBadRequest},
		{map[string]any{"ops": []any{map[string]any{"at": 0.5, "insert": "x"}}}, protocol.CodeBadRequest},
		{map[string]any{"ops": []any{map[string]any{"at": int64(0), "insert": "x", "delete": int64(1)}}}, protocol.CodeBadRequest},
		{map[string]any{"ops": []any{map[string]any{"at": int64(0), "insert": "x", "after": true}}}, protocol.CodeBadRequest},
		{map[string]any{"ops": []any{map[string]any{"at": int64(0), "delete": int64(-1)}}}, protocol.CodeBadRequest},
		{map[string]any{"ops": []any{map[string]any{"at": int64(0), "insert": int64(1)}}}, protocol.CodeBadRequest},
		{map[string]any{"ops": []any{insertAt(0, "x"), insertAt(5, "y")}}, protocol.CodeTextOpOutOfRange},
		{map[string]any{"ops": []any{map[string]any{"at": int64(1), "delete": int64(3)}}}, protocol.CodeTextOpOutOfRange},
		{map[string]any{"ops": []any{insertAt(-1, "x")}}, protocol.CodeTextOpOutOfRange},
		{map[string]any{"ops": make([]any, 1025)}, protocol.CodeTextTooLarge},
	} {
		p.fail("editText", edit(c.fields), c.code)
	}
	if rows := p.call("query", map[string]any{"db": db, "sql": "SELECT title FROM tasks"})["rows"].([]any); fmt.Sprint(rows) != "[[abc]]" {
		t.Fatalf("after refused edits: %v", rows)
	}

	first := p.call("editText", edit(map[string]any{"wid": "tab.1"}))
	again := p.call("editText", edit(map[string]any{"wid": "tab.1", "retry": true}))
	if first["text"] != "xabc" || again["text"] != "xabc" {
		t.Fatalf("first %v, retry %v", first, again)
	}
	if rows := p.call("query", map[string]any{"db": db, "sql": "SELECT title FROM tasks"})["rows"].([]any); fmt.Sprint(rows) != "[[xabc]]" {
		t.Fatalf("a retried edit applied twice: %v", rows)
	}

	plain := p.call("open", map[string]any{"name": fmt.Sprintf("edit-plain-%d", run), "storage": "memory",
		"migrations": []any{map[string]any{"version": int64(1), "sql": syncTestMigration}}})["db"].(int64)
	p.call("exec", map[string]any{"db": plain, "sql": "INSERT INTO tasks(id, title) VALUES ('t1', 'abc')"})
	p.fail("editText", edit(map[string]any{"db": plain}), protocol.CodeBadRequest)
}
