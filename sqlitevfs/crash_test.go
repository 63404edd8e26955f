package sqlitevfs

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ncruces/go-sqlite3"
)

var errKilled = errors.New("process killed")

// killScenario is a workload run against a store that dies at some call.
type killScenario struct {
	name    string
	setup   []string // committed before the workload (skipped when empty)
	pragmas []string // run on every connection
	steps   []string // the workload, one transaction (or script) per step
}

const killSetup = `
	CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB, c TEXT);
	CREATE INDEX t_c ON t(c);
	WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < 200)
	INSERT INTO t(b, c) SELECT randomblob(20 + i % 400), printf('k%05d', i) FROM s;`

var killScenarios = []killScenario{
	{
		// Small transactions: batch-atomic commits on the BlockVFS.
		name:  "autocommit",
		setup: []string{killSetup},
		steps: []string{
			"UPDATE t SET b = randomblob(length(b) + 1) WHERE a % 3 = 0",
			"INSERT INTO t(b, c) SELECT randomblob(300), 'new' FROM t LIMIT 50",
			"DELETE FROM t WHERE a % 5 = 0",
		},
	},
	{
		// A transaction bigger than the page cache: SQLite spills pages to
		// the database before commit, behind a rollback journal.
		name:    "spill",
		setup:   []string{killSetup},
		pragmas: []string{"PRAGMA cache_size=5"},
		steps: []string{
			"BEGIN; INSERT INTO t(b, c) SELECT randomblob(1000), 'spill' FROM t; UPDATE t SET b = randomblob(50) WHERE a % 2 = 0; COMMIT",
			"DELETE FROM t WHERE c = 'spill' AND a % 3 = 0",
		},
	},
	{
		// The same with journals that outlive their transaction.
		name:    "spill-persist",
		setup:   []string{killSetup},
		pragmas: []string{"PRAGMA journal_mode=persist", "PRAGMA cache_size=5"},
		steps: []string{
			"BEGIN; INSERT INTO t(b, c) SELECT randomblob(1000), 'spill' FROM t; COMMIT",
			"UPDATE t SET b = randomblob(30) WHERE a % 3 = 0",
		},
	},
	{
		name:    "spill-truncate",
		setup:   []string{killSetup},
		pragmas: []string{"PRAGMA journal_mode=truncate", "PRAGMA cache_size=5"},
		steps: []string{
			"BEGIN; INSERT INTO t(b, c) SELECT randomblob(1000), 'spill' FROM t; COMMIT",
			"UPDATE t SET b = randomblob(30) WHERE a % 3 = 0",
		},
	},
	{
		// The first transactions of a new database (no batch-atomic commit
		// for an empty file).
		name: "create",
		steps: []string{
			"CREATE TABLE t(a INTEGER PRIMARY KEY, b BLOB, c TEXT)",
			"INSERT INTO t(b, c) VALUES (randomblob(10), 'one'), (randomblob(5000), 'two')",
			"CREATE INDEX t_c ON t(c)",
		},
	},
	{
		// Shrinking the file: truncation must be atomic with the rest.
		name:  "vacuum",
		setup: []string{killSetup},
		steps: []string{
			"DELETE FROM t WHERE a > 30",
			"VACUUM",
		},
	},
	{
		name:    "wal",
		setup:   []string{killSetup},
		pragmas: []string{"PRAGMA locking_mode=exclusive", "PRAGMA journal_mode=wal", "PRAGMA synchronous=full"},
		steps: []string{
			"INSERT INTO t(b, c) SELECT randomblob(100), 'wal' FROM t LIMIT 20",
			"UPDATE t SET b = randomblob(length(b) + 2) WHERE a % 4 = 0",
			"PRAGMA wal_checkpoint(TRUNCATE)",
			"DELETE FROM t WHERE a % 6 = 0",
		},
	},
}

// TestKillPoints kills the store at its k-th call during a workload, for
// every k (or a spread of k when there are many calls), takes what a crash at
// that moment would leave, and reopens it: the database must pass
// integrity_check and hold the state after some prefix of the workload that
// includes every step that reported success.
func TestKillPoints(t *testing.T) {
	type storeKind struct {
		name string
		new  func() testStore
		max  int // kill points tried at most
	}
	kinds := []storeKind{
		{"BlockVFS", func() testStore { return newBlockTestStore(BlockOptions{}) }, 400},
		{"BlockVFS-small", func() testStore {
			return newBlockTestStore(BlockOptions{BlockSize: 1024, CacheSize: 8192, ReadAhead: 3})
		}, 400},
		{"BlockVFS-earlyflush", func() testStore { return newBlockTestStore(BlockOptions{MaxDirty: 1}) }, 400},
		{"FileVFS", func() testStore { return newFileTestStore() }, 120},
		{"FileVFS-coalesced", func() testStore { return newCoalescedFileTestStore() }, 120},
		{"FileVFS-prepared", func() testStore {
			s := newCoalescedFileTestStore()
			s.prepare = []string{"/test.db-wal", "/test.db-journal"}
			return s
		}, 120},
	}
	for _, kind := range kinds {
		for _, sc := range killScenarios {
			t.Run(kind.name+"/"+sc.name, func(t *testing.T) {
				t.Parallel()
				testKillPoints(t, kind.new, sc, kind.max)
			})
		}
	}
}

func testKillPoints(t *testing.T, newStore func() testStore, sc killScenario, maxPoints int) {
	base := newStore()
	if len(sc.setup) > 0 {
		c := open(t, base.newVFS(t))
		for _, sql := range sc.setup {
			mustExec(t, c, sql)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// A clean run records the state after each step and how many store
	// calls the whole workload makes.
	ref := base.crash()
	start := ref.calls()
	c := open(t, ref.newVFS(t), sc.pragmas...)
	states := []string{mustDigest(t, c)}
	for _, sql := range sc.steps {
		mustExec(t, c, sql)
		states = append(states, mustDigest(t, c))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	calls := int(ref.calls() - start)
	stride := max(1, calls/maxPoints)

	seen := map[int]int{} // recovered state index → kill points
	for k := 1; k <= calls+1; k += stride {
		s := base.crash()
		s.setFault(FailFrom(s.calls()+int64(k), errKilled))
		running, done, runErr := runUntilError(s.newVFS(t), sc)
		crashed := s.crash()
		if running != nil {
			running.Close() // through the dead store: changes nothing
		}

		c, err := sqlite3.Open(dbURI(crashed.newVFS(t)))
		if err != nil {
			t.Fatalf("kill at call %d/%d: reopen: %v", k, calls, err)
		}
		for _, p := range sc.pragmas {
			if err := c.Exec(p); err != nil {
				t.Fatalf("kill at call %d/%d: %s: %v", k, calls, p, err)
			}
		}
		if got, err := integrityCheck(c); err != nil || got != "ok" {
			t.Fatalf("kill at call %d/%d (after %d steps, %v): integrity_check = %q, %v", k, calls, done, runErr, got, err)
		}
		d, err := digest(c)
		if err != nil {
			t.Fatalf("kill at call %d/%d: digest: %v", k, calls, err)
		}
		c.Close()

		// The recovered state is after step done (the failing step may or
		// may not have committed) — never before a step that succeeded.
		idx := -1
		for i := done; i < len(states) && i <= done+1; i++ {
			if states[i] == d {
				idx = i
				break
			}
		}
		if idx < 0 {
			t.Fatalf("kill at call %d/%d after %d steps (%v): state %s is not one of %q", k, calls, done, runErr, d, states[done:min(done+2, len(states))])
		}
		seen[idx]++
	}
	t.Logf("%d store calls, %d kill points, recovered states %v", calls, (calls+stride)/stride, fmt.Sprint(seen))
	if seen[0] == 0 || seen[len(states)-1] == 0 {
		t.Errorf("kill points did not cover both the initial and the final state: %v", seen)
	}
}

// runUntilError runs the workload on a fresh connection and stops at the
// first error, as a dying process would. It returns the connection, still
// open, and how many steps succeeded.
func runUntilError(vfsName string, sc killScenario) (*sqlite3.Conn, int, error) {
	c, err := sqlite3.Open(dbURI(vfsName))
	if err != nil {
		return nil, 0, err
	}
	for _, p := range sc.pragmas {
		if err := c.Exec(p); err != nil {
			return c, 0, err
		}
	}
	for i, sql := range sc.steps {
		if err := c.Exec(sql); err != nil {
			return c, i, err
		}
	}
	return c, len(sc.steps), nil
}
