package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"

	boardschema "github.com/hearthdb/hearth/board/schema"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/pgstore"
	"github.com/hearthdb/hearth/syncserver/seeder"
	"github.com/ncruces/go-sqlite3"
)

// newSyncServer serves the demo board's schema: its migrations, synced
// tables and the double-booking invariant. store is a SQLite file path
// ("" keeps the data in memory) or a postgres:// URL; any number of
// instances may share one PostgreSQL database.
func newSyncServer(ctx context.Context, storeSpec string, log *slog.Logger) (*syncserver.Server, error) {
	cfg := syncserver.Config{Path: storeSpec}
	if strings.HasPrefix(storeSpec, "postgres://") || strings.HasPrefix(storeSpec, "postgresql://") {
		st, err := pgstore.Open(ctx, storeSpec)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		cfg = syncserver.Config{Store: st}
	}
	return syncserver.New(syncserver.Config{
		Store:      cfg.Store,
		Path:       cfg.Path,
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
