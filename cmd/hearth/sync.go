package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"

	boardschema "github.com/hearthdb/hearth/board/schema"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/seeder"
	"github.com/ncruces/go-sqlite3"
)

// newSyncServer serves the demo board's schema: its migrations, synced
// tables and the double-booking invariant.
func newSyncServer(path string, log *slog.Logger) (*syncserver.Server, error) {
	return syncserver.New(syncserver.Config{
		Path:       path,
		Migrations: boardschema.Migrations,
		Tables:     boardschema.Tables,
		Invariants: []syncserver.Invariant{boardschema.DoubleBooking},
		Logger:     log,
	})
}

// seedDemo pushes the demo workspace through the sync endpoint at url.
func seedDemo(ctx context.Context, url string, tasks int) (int64, error) {
	return seeder.Seed(ctx, url, boardschema.Migrations, boardschema.Tables, func(conn *sqlite3.Conn) error {
		return boardschema.Seed(conn, boardschema.SeedOptions{Tasks: tasks})
	})
}

// printSchema writes {migrations: [{version, sql}], tables: [{name, resurrect}]}.
func printSchema(w io.Writer) error {
	type migration struct {
		Version int64  `json:"version"`
		SQL     string `json:"sql"`
	}
	type table struct {
		Name      string `json:"name"`
		Resurrect bool   `json:"resurrect"`
	}
	var out struct {
		Migrations []migration `json:"migrations"`
		Tables     []table     `json:"tables"`
	}
	for _, m := range boardschema.Migrations {
		out.Migrations = append(out.Migrations, migration{m.Version, m.SQL})
	}
	for _, t := range boardschema.Tables {
		out.Tables = append(out.Tables, table{t.Name, t.Resurrect})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
