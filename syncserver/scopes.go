package syncserver

import (
	"context"
	"fmt"
	"slices"

	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// AllScopes, in the scopes Config.Grants returns, stands for every scope
// (an admin, a server tool). Only Grants can give it: a credential's own
// scopes are taken literally, since scope ids may be data users create.
const AllScopes = "*"

// access is what one connection may read and write, from its identity
// (Config.Grants, Config.TableAccess) and, for reads, the scopes it
// subscribed to.
type access struct {
	rules *store.ScopeRules
	ident Identity
	// tables decides tables without a scope rule (nil: allowed), unless
	// tableRules is set (Config.TableRules), which decides instead.
	tables     func(id Identity, table string) (read, write bool)
	tableRules map[string]TableRule
	owners     map[string]ownerRule
	// read and write are the granted scopes; the *All flags stand for
	// AllScopes.
	read, write       map[string]bool
	readAll, writeAll bool
	// subscribed, when not nil, are the scopes the client asked for
	// (granted ones only): it reads those alone.
	subscribed map[string]bool
}

func newAccess(s *Server, id Identity) *access {
	a := &access{rules: s.scopes, ident: id, tables: s.cfg.TableAccess, tableRules: s.cfg.TableRules, owners: s.owners}
	if s.cfg.Grants == nil {
		a.read, _ = scopeSet(id.Scopes, false)
		a.write = a.read
		return a
	}
	read, write := s.cfg.Grants(id)
	a.read, a.readAll = scopeSet(read, true)
	a.write, a.writeAll = scopeSet(write, true)
	return a
}

func scopeSet(list []string, wildcard bool) (map[string]bool, bool) {
	set := make(map[string]bool, len(list))
	for _, sc := range list {
		if wildcard && sc == AllScopes {
			return nil, true
		}
		set[sc] = true
	}
	return set, false
}

// subscribe narrows reading to the requested scopes (of those granted).
// It is how a session starts; add widens it later.
func (a *access) subscribe(scopes []string) {
	if scopes == nil {
		return
	}
	next := map[string]bool{}
	for _, sc := range scopes {
		if a.readAll || a.read[sc] {
			next[sc] = true
		}
	}
	a.subscribed = next
}

// add widens a subscription by the granted scopes among these. A
// connection that subscribed to every scope already reads them.
func (a *access) add(scopes []string) {
	if a.subscribed == nil {
		return
	}
	for _, sc := range scopes {
		if a.readAll || a.read[sc] {
			a.subscribed[sc] = true
		}
	}
}

// tableRead reports whether the connection reads a table at all.
func (a *access) tableRead(table string) bool {
	if a.rules.Scoped(table) {
		return true
	}
	if a.tableRules != nil {
		// Violations are the server's; without scope rules every one
		// concerns an unscoped row.
		return table == appschema.Violations.Name || a.ruledRead(table)
	}
	if a.tables == nil {
		return true
	}
	r, _ := a.tables(a.ident, table)
	return r
}

// reads reports whether the connection receives a row of a table in a
// scope.
func (a *access) reads(table string, sc store.Scope) bool {
	if !a.rules.Scoped(table) {
		return a.tableRead(table)
	}
	if !sc.Known {
		return a.rules.Derived(table)
	}
	if a.subscribed != nil {
		return a.subscribed[sc.Value]
	}
	return a.readAll || a.read[sc.Value]
}

// restricted reports whether the connection sees less than the whole
// store (checksums then leave out the tables it sees in part).
func (a *access) restricted() bool {
	return a.subscribed != nil || !a.readAll
}

// view is the store-level filter of the connection's snapshots, nil when
// it reads every scope.
func (a *access) view() *store.View {
	if len(a.rules.Tables()) == 0 || !a.restricted() {
		return nil
	}
	var scopes []string
	switch {
	case a.subscribed != nil:
		scopes = keys(a.subscribed)
	default:
		scopes = keys(a.read)
	}
	return &store.View{Scopes: scopes}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// admit refuses a change to a row outside the scopes the connection
// writes, judged by the row's scope before the change and the scope the
// change would give it: a user may neither touch another workspace's row
// nor move a row into (or out of) a workspace they do not write.
func (a *access) admit(ctx context.Context, q store.Querier, c *store.Pushed) *merge.Refusal {
	if !a.rules.Scoped(c.Table) {
		if a.tableRules != nil {
			return a.ruledWrite(ctx, q, c)
		}
		if a.tables != nil {
			if _, w := a.tables(a.ident, c.Table); !w {
				return &merge.Refusal{Code: store.CodeForbidden, Message: fmt.Sprintf("table %s is not writable by this identity", c.Table)}
			}
		}
		return nil
	}
	if !c.Scope.Known {
		return &merge.Refusal{Code: store.CodeForbidden, Message: fmt.Sprintf("the %s row has no scope (write the scope column, e.g. with an insert)", c.Table)}
	}
	for _, sc := range []store.Scope{c.Prev, c.Scope} {
		if sc.Known && !a.writeAll && !a.write[sc.Value] {
			return &merge.Refusal{Code: store.CodeForbidden, Message: fmt.Sprintf("scope %q of the %s row is not writable by this identity", sc.Value, c.Table)}
		}
	}
	return nil
}

// rollbackRow is a refused change's row as the client may see it: the
// server's state when the row is in the client's scopes, else no row (the
// client forgets it: it must not learn another scope's data, nor keep a
// row it wrote there).
func (a *access) rollbackRow(table string, key []byte, row []change.Change) []change.Change {
	if !a.rules.Scoped(table) {
		if !a.tableRead(table) {
			return []change.Change{}
		}
		return row
	}
	if len(row) == 0 || !a.readsGranted(table, a.rules.OfRow(table, key, row)) {
		return []change.Change{}
	}
	return row
}

// readsGranted is reads ignoring the subscription: a row the identity
// may read (a refusal's rollback, which the client asked about).
func (a *access) readsGranted(table string, sc store.Scope) bool {
	return sc.Known && (a.readAll || a.read[sc.Value])
}

type accessKey struct{}

func accessFrom(ctx context.Context) *access {
	a, _ := ctx.Value(accessKey{}).(*access)
	return a
}

// filterEntries keeps the log entries a connection may receive and turns
// moves across its scopes into what its replica needs: a row that left
// them is evicted, a row that entered them is sent whole (its current
// state, as a snapshot would: the client never had the rest of it).
// Entries for a row earlier in the batch than its eviction are dropped,
// since the client applies evictions first.
func (c *session) filterEntries(entries []store.Entry, packed [][]byte) ([]wire.Entry, []wire.SnapshotCursor, error) {
	a := c.access
	var out []wire.Entry
	var evict []wire.SnapshotCursor
	for i := range entries {
		e := &entries[i]
		if e.Client == c.client {
			continue // the client has its own changes
		}
		if !a.rules.Scoped(e.Table) {
			if !a.tableRead(e.Table) {
				continue
			}
			we := wire.Entry{Pos: e.Pos, Change: e.Change}
			if packed != nil {
				we.Packed = packed[i]
			}
			out = append(out, we)
			continue
		}
		now, before := a.reads(e.Table, e.Scope), a.reads(e.Table, e.Prev)
		moved := e.Prev.Known && e.Prev.Value != e.Scope.Value
		switch {
		case now && (!moved || before):
			we := wire.Entry{Pos: e.Pos, Change: e.Change}
			if packed != nil {
				we.Packed = packed[i]
			}
			out = append(out, we)
		case now:
			// Moved in: the row as it is now, if it is still here.
			row, sc, err := c.srv.store.Row(c.ctx, e.Table, e.Key)
			if err != nil {
				return nil, nil, err
			}
			if !a.reads(e.Table, sc) {
				continue // moved on since; a later entry says where
			}
			for _, ch := range row {
				out = append(out, wire.Entry{Pos: e.Pos, Change: ch})
			}
		case moved && before:
			out = slices.DeleteFunc(out, func(we wire.Entry) bool {
				return we.Table == e.Table && string(we.Key) == string(e.Key)
			})
			evict = append(evict, wire.SnapshotCursor{Table: e.Table, Key: e.Key})
		}
	}
	return out, evict, nil
}

// chunkChanges leaves out of a snapshot chunk the tables the connection
// does not read and, for a snapshot of added scopes (scopesOnly), the
// tables without a scope rule, which the client holds already.
func (c *session) chunkChanges(chs []change.Change, scopesOnly bool) []change.Change {
	a := c.access
	if a.tables == nil && a.tableRules == nil && !scopesOnly {
		return chs
	}
	return slices.DeleteFunc(chs, func(ch change.Change) bool {
		if a.rules.Scoped(ch.Table) {
			return false
		}
		return scopesOnly || !a.tableRead(ch.Table)
	})
}
