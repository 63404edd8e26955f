package schema

import (
	"fmt"

	"github.com/hearthdb/hearth/examples/board/model"
	"github.com/ncruces/go-sqlite3"
)

// SeedOptions sizes the seed workspace.
type SeedOptions = model.SeedOptions

// Workspace ids of the seed.
const (
	MainWorkspace = model.MainWorkspace
	SideWorkspace = model.SideWorkspace
)

// WorkspacesOf lists the seed workspaces a seed user (u-01, u-02, …)
// belongs to, for demo sign-in; nil for anyone else. It follows Seed's
// membership rule, for the largest seed (5,000 tasks, 50 users).
func WorkspacesOf(user string) []string {
	var i int
	if _, err := fmt.Sscanf(user, "u-%d", &i); err != nil || i < 1 || i > 50 || UserID(i-1) != user {
		return nil
	}
	if (i-1)%3 == 0 {
		return []string{MainWorkspace, SideWorkspace}
	}
	return []string{MainWorkspace}
}

// UserID is the id of the seed's i-th user (from 0).
func UserID(i int) string { return model.UserID(i) }

// Seed writes the seed workspace (model.SeedStatements) into conn in one
// transaction. The rows are ordinary writes: on a connection with the
// journal installed they sync like any other.
func Seed(conn *sqlite3.Conn, opts SeedOptions) error {
	if err := conn.Exec("BEGIN IMMEDIATE"); err != nil {
		return err
	}
	err := func() error {
		for _, st := range model.SeedStatements(opts) {
			if err := execStatement(conn, st); err != nil {
				return err
			}
		}
		return nil
	}()
	if err != nil {
		conn.Exec("ROLLBACK")
		return fmt.Errorf("seed: %w", err)
	}
	return conn.Exec("COMMIT")
}

func execStatement(conn *sqlite3.Conn, st model.Statement) error {
	s, _, err := conn.Prepare(st.SQL)
	if err != nil {
		return err
	}
	defer s.Close()
	for i, a := range st.Args {
		switch v := a.(type) {
		case string:
			s.BindText(i+1, v)
		case int64:
			s.BindInt64(i+1, v)
		case float64:
			s.BindFloat(i+1, v)
		default:
			return fmt.Errorf("seed: cannot bind %T", a)
		}
	}
	return s.Exec()
}
