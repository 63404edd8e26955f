package engine

import (
	"fmt"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/wasm/protocol"
)

// MigrationProgress is reported before each migration runs.
type MigrationProgress struct {
	Version     int64
	Done, Total int
}

func parseMigrations(v any) ([]appschema.Migration, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, protocol.Errorf(protocol.CodeBadRequest, "migrations must be an array of {version, sql}, got %s", codec.TypeName(v))
	}
	out := make([]appschema.Migration, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, protocol.Errorf(protocol.CodeBadRequest, "migration %d must be a map {version, sql}, got %s", i, codec.TypeName(item))
		}
		version, ok := m["version"].(int64)
		if !ok || version < 1 {
			return nil, protocol.Errorf(protocol.CodeBadRequest, "migration %d needs a positive integer version, got %v", i, m["version"])
		}
		sql, ok := m["sql"].(string)
		if !ok {
			return nil, protocol.Errorf(protocol.CodeBadRequest, "migration %d (version %d) needs text sql", i, version)
		}
		if i > 0 && version <= out[i-1].Version {
			return nil, protocol.Errorf(protocol.CodeBadRequest, "migration versions must increase: %d follows %d", version, out[i-1].Version)
		}
		out[i] = appschema.Migration{Version: version, SQL: sql}
	}
	return out, nil
}

// migrate brings the database up to the last migration and returns its
// version. A database newer than the app's migrations is refused, never
// downgraded. A failing migration is rolled back and leaves the database
// exactly as the previous one left it.
func migrate(c *Conn, migrations []appschema.Migration, progress func(MigrationProgress)) (int64, error) {
	current, err := c.userVersion()
	if err != nil {
		return 0, err
	}
	if len(migrations) == 0 {
		return current, nil
	}
	latest := migrations[len(migrations)-1].Version
	if current > latest {
		return current, protocol.Errorf(protocol.CodeSchemaTooNew,
			"the database is at schema version %d but this app knows versions up to %d; refusing to open it (update the app)", current, latest)
	}
	var pending []appschema.Migration
	for _, m := range migrations {
		if m.Version > current {
			pending = append(pending, m)
		}
	}
	for i, m := range pending {
		progress(MigrationProgress{Version: m.Version, Done: i, Total: len(pending)})
		if err := c.applyMigration(m); err != nil {
			perr := asProtocolError(err)
			return current, protocol.Errorf(protocol.CodeMigrationFailed, "migration to version %d failed (%s): %s; the database stays at version %d",
				m.Version, perr.Code, perr.Message, current)
		}
		current = m.Version
	}
	return current, nil
}

// migrationsPending reports whether migrate would run a migration (true
// when the version cannot be read: migrate then reports why).
func migrationsPending(c *Conn, migrations []appschema.Migration) bool {
	if len(migrations) == 0 {
		return false
	}
	current, err := c.userVersion()
	return err != nil || current < migrations[len(migrations)-1].Version
}

func (c *Conn) userVersion() (int64, error) {
	s, _, err := c.db.Prepare("PRAGMA user_version")
	if err != nil {
		return 0, sqlError(err)
	}
	defer s.Close()
	if !s.Step() {
		return 0, sqlError(s.Err())
	}
	return s.ColumnInt64(0), nil
}

func (c *Conn) applyMigration(m appschema.Migration) error {
	if err := c.db.Exec("BEGIN IMMEDIATE"); err != nil {
		return sqlError(err)
	}
	if _, err := c.Exec(m.SQL, nil); err != nil {
		c.db.Exec("ROLLBACK")
		return err
	}
	if err := c.db.Exec(fmt.Sprintf("PRAGMA user_version = %d", m.Version)); err != nil {
		c.db.Exec("ROLLBACK")
		return sqlError(err)
	}
	if err := c.db.Exec("COMMIT"); err != nil {
		c.db.Exec("ROLLBACK")
		return sqlError(err)
	}
	return nil
}
