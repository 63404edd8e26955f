package syncserver

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// rowDefaults gives the values a device's SQLite would give the columns
// an INSERT does not name: its declared DEFAULT, converted by the
// column's affinity, or NULL.
//
// A backend upsert of a new row must be a whole-row insert. The merge
// rule has an insert write every field: an insert naming only some
// columns would leave a device that held an older insert of the row with
// its own values in the others, and the server with its defaults, for
// good. So the server fills the rest as the device's INSERT would have,
// evaluated once here and carried in the change, so that every replica
// stores the same values (CURRENT_TIMESTAMP included).
//
// The defaults come from the app's migrations run on a private in-memory
// SQLite database (they are the devices' SQL, whatever the server's store
// is), where each synced table has a shadow: its value columns with their
// declared types and defaults, and no constraints.
type rowDefaults struct {
	mu   sync.Mutex
	conn *sqlite3.Conn
	// shadows names each synced table's shadow table.
	shadows map[string]string
}

func newRowDefaults(migrations []appschema.Migration, tables []*schema.Info) (*rowDefaults, error) {
	conn, err := sqlite3.Open(":memory:")
	if err != nil {
		return nil, err
	}
	d := &rowDefaults{conn: conn, shadows: map[string]string{}}
	for _, m := range migrations {
		if err := conn.Exec(m.SQL); err != nil {
			conn.Close()
			return nil, fmt.Errorf("migration %d: %w", m.Version, err)
		}
	}
	for i, t := range tables {
		if strings.HasPrefix(strings.ToLower(t.Name), schema.ReservedPrefix) {
			continue
		}
		ddl, err := d.shadowDDL(fmt.Sprintf("shadow_%d", i), t)
		if err != nil {
			conn.Close()
			return nil, err
		}
		if ddl == "" {
			continue // no value columns
		}
		if err := conn.Exec(ddl); err != nil {
			conn.Close()
			return nil, fmt.Errorf("table %q: %w", t.Name, err)
		}
		d.shadows[t.Name] = fmt.Sprintf("shadow_%d", i)
	}
	return d, nil
}

// shadowDDL is the shadow table of t: its value columns, declared type
// and default as the migrations left them.
func (d *rowDefaults) shadowDDL(name string, t *schema.Info) (string, error) {
	stmt, _, err := d.conn.Prepare(`SELECT name, type, dflt_value FROM pragma_table_info(?) WHERE pk = 0 ORDER BY cid`)
	if err != nil {
		return "", err
	}
	defer stmt.Close()
	if err := stmt.BindText(1, t.Name); err != nil {
		return "", err
	}
	var cols []string
	for stmt.Step() {
		col := schema.Quote(stmt.ColumnText(0)) + " " + stmt.ColumnText(1)
		if stmt.ColumnType(2) != sqlite3.NULL {
			col += " DEFAULT (" + stmt.ColumnText(2) + ")"
		}
		cols = append(cols, col)
	}
	if err := stmt.Err(); err != nil {
		return "", err
	}
	if len(cols) == 0 {
		return "", nil
	}
	return "CREATE TABLE " + schema.Quote(name) + "(" + strings.Join(cols, ", ") + ")", nil
}

// fill adds to values every value column of t it does not name, with
// the value a device's INSERT would store.
func (d *rowDefaults) fill(t *schema.Info, values map[string]any) error {
	missing := false
	for _, name := range t.Values {
		if _, ok := values[name]; !ok {
			missing = true
		}
	}
	if !missing {
		return nil
	}
	shadow, ok := d.shadows[t.Name]
	if !ok {
		return fmt.Errorf("no defaults known for table %q", t.Name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	stmt, _, err := d.conn.Prepare("INSERT INTO " + schema.Quote(shadow) + " DEFAULT VALUES RETURNING *")
	if err != nil {
		return err
	}
	defer stmt.Close()
	if !stmt.Step() {
		return errors.Join(errors.New("evaluating defaults returned no row"), stmt.Err())
	}
	for i := range stmt.ColumnCount() {
		name := stmt.ColumnName(i)
		if _, named := values[name]; named {
			continue
		}
		if c, ok := t.Column(name); ok && c.KeyPosition == 0 {
			values[name] = merge.ColumnValue(stmt, i)
		}
	}
	if err := stmt.Reset(); err != nil {
		return err
	}
	return d.conn.Exec("DELETE FROM " + schema.Quote(shadow))
}

func (d *rowDefaults) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.conn.Close()
}
