package appconfig

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// validate runs the migrations on a scratch in-memory SQLite database and
// checks the tables, scope and owner columns, and invariants against it.
func (l *loader) validate() {
	conn, err := sqlite3.Open(":memory:")
	if err != nil {
		l.errAt(nil, "", "scratch database: %v", err)
		return
	}
	defer conn.Close()
	for i, m := range l.app.Migrations {
		if i > 0 && m.Version <= l.app.Migrations[i-1].Version {
			l.errAt(l.migrationsAt, "migrations", "versions must increase (%d after %d)", m.Version, l.app.Migrations[i-1].Version)
			return
		}
		if err := conn.Exec(m.SQL); err != nil {
			l.errAt(l.migrationsAt, "migrations", "migration %d: %v", m.Version, err)
			return
		}
	}
	var infos []*schema.Info
	for _, t := range l.app.Tables {
		at := l.tableAt[t.Name]
		if err := schema.ValidateName(t.Name); err != nil {
			l.errAt(at.keyAt, at.path, "%v", err)
			continue
		}
		if strings.HasPrefix(strings.ToLower(t.Name), schema.ReservedPrefix) {
			l.errAt(at.keyAt, at.path, "the %s prefix is Hearth's own", schema.ReservedPrefix)
			continue
		}
		info, err := schema.Describe(conn, t)
		if err != nil {
			l.errAt(at.keyAt, at.path, "%v (the migrations must create it)", err)
			continue
		}
		infos = append(infos, info)
		if col, ok := l.app.Scopes[t.Name]; ok {
			if _, has := info.Column(col); !has {
				e := l.scopeAt[t.Name]
				l.errAt(e.value, e.path, "table %s has no column %q", t.Name, col)
			}
		} else if l.authOn && !hasRule(l.app.TableRules, t.Name) {
			l.errAt(at.keyAt, at.path, "with auth on, a table without scope needs read and write rules (authenticated, none, or owner/roles)")
		}
		if rule, ok := l.app.TableRules[t.Name]; ok && rule.Write.Owner != "" {
			if _, has := info.Column(rule.Write.Owner); !has {
				e := l.ownerAt[t.Name]
				l.errAt(e.value, e.path+".owner", "table %s has no column %q", t.Name, rule.Write.Owner)
			}
		}
	}
	for i, inv := range l.app.Invariants {
		if _, synced := l.tableAt[inv.Table]; !synced {
			e := l.invTableAt[i]
			l.errAt(e.value, e.path, "%q is not a synced table (list it under tables)", inv.Table)
			continue
		}
		e := l.invariantAt[i]
		if inv.SQL == "" || !slices.ContainsFunc(infos, func(t *schema.Info) bool { return t.Name == inv.Table }) {
			continue // reported already
		}
		if err := prepareInvariant(conn, inv, infos, l.app.Scopes); err != nil {
			l.errAt(e.value, e.path, "%v", err)
		}
	}
}

func hasRule(rules map[string]syncserver.TableRule, table string) bool {
	_, ok := rules[table]
	return ok
}

// prepareInvariant compiles an invariant as the server does and prepares
// its query on SQLite: a typo in a column fails here, not on the first
// push.
func prepareInvariant(conn *sqlite3.Conn, inv syncserver.SQLInvariant, infos []*schema.Info, scopes map[string]string) error {
	c, err := inv.Compile(infos, scopes)
	if err != nil {
		return err
	}
	st, tail, err := conn.Prepare(c.SQL(func(t string) string { return "main." + schema.Quote(t) }))
	if err != nil {
		return fmt.Errorf("the query does not prepare: %w", err)
	}
	defer st.Close()
	switch {
	case strings.TrimSpace(tail) != "":
		return fmt.Errorf("one statement only (more follows: %.40q)", strings.TrimSpace(tail))
	case !st.ReadOnly():
		return fmt.Errorf("an invariant may only read (a SELECT)")
	case st.ColumnCount() == 0:
		return fmt.Errorf("the query must return a column: the violation message")
	}
	return nil
}
