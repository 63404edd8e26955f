package syncserver

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/schema"
)

// TableRule is who may read and write a synced table without a scope
// rule (Config.TableRules).
type TableRule struct {
	Read, Write Allow
}

// Allow says who is allowed; the zero value allows nobody.
type Allow struct {
	// Authenticated allows every identity.
	Authenticated bool
	// Roles allow the identities holding any of them.
	Roles []string
	// Owner (writes only) names a column holding a principal: a change
	// is allowed when the row's owner is the identity's principal before
	// and after it (an insert: the value it writes; an update: the
	// stored row's and, when written, the new one; a delete: the stored
	// row's).
	Owner string
}

func (al Allow) byRole(id Identity) bool {
	for _, r := range id.Roles {
		if slices.Contains(al.Roles, r) {
			return true
		}
	}
	return false
}

// ownerRule is an owner column with the query reading a stored row's
// owner by key.
type ownerRule struct {
	column string
	// key is the column's position in the primary key plus one, or 0.
	key   int
	query string
}

// ownerRules checks the owner columns of rules against the tables.
func ownerRules(rules map[string]TableRule, tables []*schema.Info, scopes *store.ScopeRules) (map[string]ownerRule, error) {
	out := map[string]ownerRule{}
	for name, rule := range rules {
		var t *schema.Info
		for _, ti := range tables {
			if ti.Name == name {
				t = ti
			}
		}
		if t == nil {
			return nil, fmt.Errorf("table rule for %q: not a synced table", name)
		}
		if scopes.Scoped(name) {
			return nil, fmt.Errorf("table rule for %q: the table has a scope rule, which decides its access", name)
		}
		if rule.Read.Owner != "" {
			return nil, fmt.Errorf("table rule for %q: owner applies to writes only", name)
		}
		if rule.Write.Owner == "" {
			continue
		}
		col, ok := t.Column(rule.Write.Owner)
		if !ok {
			return nil, fmt.Errorf("table rule for %q: no column %q", name, rule.Write.Owner)
		}
		where := make([]string, len(t.Key))
		for i, k := range t.Key {
			where[i] = schema.Quote(k) + " = ?"
		}
		out[name] = ownerRule{column: rule.Write.Owner, key: col.KeyPosition,
			query: fmt.Sprintf("SELECT %s FROM %s WHERE %s", schema.Quote(rule.Write.Owner), schema.Quote(name), strings.Join(where, " AND "))}
	}
	return out, nil
}

// ruledRead is whether TableRules let the identity read a table.
func (a *access) ruledRead(table string) bool {
	if a.readAll {
		return true
	}
	rule, ok := a.tableRules[table]
	return ok && (rule.Read.Authenticated || rule.Read.byRole(a.ident))
}

// ruledWrite judges a change to a table under TableRules, reading the
// stored row's owner with q when the rule says so.
func (a *access) ruledWrite(ctx context.Context, q store.Querier, c *store.Pushed) *merge.Refusal {
	if a.writeAll {
		return nil
	}
	forbid := func(format string, args ...any) *merge.Refusal {
		return &merge.Refusal{Code: store.CodeForbidden, Message: fmt.Sprintf(format, args...)}
	}
	rule, ok := a.tableRules[c.Table]
	if !ok {
		return forbid("table %s is not writable by this identity (it has no access rule)", c.Table)
	}
	if rule.Write.Authenticated || rule.Write.byRole(a.ident) {
		return nil
	}
	owner, ok := a.owners[c.Table]
	if !ok {
		return forbid("table %s is not writable by this identity", c.Table)
	}
	me := a.ident.Principal
	if me == "" {
		return forbid("the %s row belongs to its owner; this connection has no principal", c.Table)
	}
	key, err := change.DecodeKey(c.Key)
	if err != nil || len(key) < owner.key {
		return forbid("the %s row's key is not the table's", c.Table)
	}
	// The owner the change gives the row, when it gives one.
	v, written := c.Values[owner.column]
	if owner.key > 0 {
		v, written = key[owner.key-1], true
	}
	if c.Op == change.Delete {
		written = false
	}
	if written && store.ScopeText(v) != me {
		return forbid("the %s row's %s would be %q: this identity may only write its own (%q)", c.Table, owner.column, store.ScopeText(v), me)
	}
	if !written && c.Op == change.Insert {
		return forbid("an insert into %s must set %s to the principal", c.Table, owner.column)
	}
	rows, err := q.Query(ctx, owner.query, key...)
	if err != nil {
		// Admit cannot fail the push; refusing is the safe verdict.
		return forbid("reading the %s row's owner failed: %v", c.Table, err)
	}
	switch {
	case len(rows) > 0 && store.ScopeText(rows[0][0]) != me:
		return forbid("the %s row belongs to %q, not to this identity", c.Table, store.ScopeText(rows[0][0]))
	case len(rows) == 0 && !written:
		return forbid("the %s row does not exist here, so its owner cannot be checked", c.Table)
	}
	return nil
}
