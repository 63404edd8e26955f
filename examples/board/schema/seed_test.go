package schema

import (
	"testing"

	"github.com/ncruces/go-sqlite3"
)

func TestSeedCountsAndDeterminism(t *testing.T) {
	checksum := func() (tasks, projects int64, sum string) {
		conn, err := sqlite3.Open(":memory:")
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, m := range Migrations {
			if err := conn.Exec(m.SQL); err != nil {
				t.Fatal(err)
			}
		}
		if err := Seed(conn, SeedOptions{Tasks: 400}); err != nil {
			t.Fatal(err)
		}
		s, _, err := conn.Prepare(`SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM projects),
			(SELECT group_concat(id || title || status || assignee_id, ',') FROM tasks)`)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.Step()
		return s.ColumnInt64(0), s.ColumnInt64(1), s.ColumnText(2)
	}
	tasks, projects, a := checksum()
	if tasks != 400 || projects != 16 {
		t.Fatalf("seed has %d tasks in %d projects, want 400 in 16", tasks, projects)
	}
	if _, _, b := checksum(); a != b {
		t.Fatal("two seeds differ")
	}
}
