package client

import (
	"context"
	"sync"

	"github.com/hearthdb/hearth/wasm/protocol"
)

// SyncOptions says where a database syncs and what.
type SyncOptions struct {
	// URL is the sync endpoint, ws:// or wss:// (e.g. ws://host/sync).
	URL string
	// Tables are the synced tables; each needs a PRIMARY KEY.
	Tables []string
	// Resurrect names tables where a newer re-insert brings back a
	// deleted row (by default a delete wins for good).
	Resurrect []string
	// Token is a bearer token for the server.
	Token string
}

func (o *SyncOptions) fields() map[string]any {
	resurrect := map[string]bool{}
	for _, t := range o.Resurrect {
		resurrect[t] = true
	}
	tables := make([]any, len(o.Tables))
	for i, t := range o.Tables {
		tables[i] = map[string]any{"name": t, "resurrect": resurrect[t]}
	}
	f := map[string]any{"url": o.URL, "tables": tables}
	if o.Token != "" {
		f["token"] = o.Token
	}
	return f
}

// SyncError is the last failure of the sync loop.
type SyncError struct {
	// Class is offline, timeout, auth, schema, server, protocol or local.
	Class, Code, Message string
	// At is Unix milliseconds.
	At int64
}

// SyncProgress is the initial sync's progress.
type SyncProgress struct {
	Active      bool
	Rows, Total int64
}

// SyncStatus is how sync is doing (see the worker's status map).
type SyncStatus struct {
	State     string
	Connected bool
	Online    bool
	// LastSyncedAt is Unix milliseconds (0: never).
	LastSyncedAt int64
	// Pending counts local changes not yet acknowledged.
	Pending      int64
	Cursor, Head int64
	// Retries counts failed attempts by error class.
	Retries   map[string]int64
	LastError *SyncError
	// NextAttemptAt is Unix milliseconds while backing off.
	NextAttemptAt                 int64
	InitialSync                   SyncProgress
	Checksums, Divergences        int64
	DivergedTables                []string
	ReconcileLatencyMs            float64
	Flagged, Refused, Quarantined int64
	// Schema is the local schema version and the range the server accepts.
	Schema SchemaVersions
}

// SchemaVersions are the schema versions sync negotiated.
type SchemaVersions struct{ Local, ServerMin, ServerMax int64 }

func syncStatusOf(v any) SyncStatus {
	m, _ := v.(map[string]any)
	i := func(m map[string]any, k string) int64 { n, _ := m[k].(int64); return n }
	st := SyncStatus{Retries: map[string]int64{}}
	st.State, _ = m["state"].(string)
	st.Connected, _ = m["connected"].(bool)
	st.Online, _ = m["online"].(bool)
	st.LastSyncedAt = i(m, "lastSyncedAt")
	st.Pending = i(m, "pending")
	st.Cursor, st.Head = i(m, "cursor"), i(m, "head")
	if r, ok := m["retries"].(map[string]any); ok {
		for k := range r {
			st.Retries[k] = i(r, k)
		}
	}
	if e, ok := m["lastError"].(map[string]any); ok {
		se := &SyncError{At: i(e, "at")}
		se.Class, _ = e["class"].(string)
		se.Code, _ = e["code"].(string)
		se.Message, _ = e["message"].(string)
		st.LastError = se
	}
	st.NextAttemptAt = i(m, "nextAttemptAt")
	if p, ok := m["initialSync"].(map[string]any); ok {
		st.InitialSync.Active, _ = p["active"].(bool)
		st.InitialSync.Rows, st.InitialSync.Total = i(p, "rows"), i(p, "total")
	}
	st.Checksums, st.Divergences = i(m, "checksums"), i(m, "divergences")
	for _, t := range asSlice(m["divergedTables"]) {
		if s, ok := t.(string); ok {
			st.DivergedTables = append(st.DivergedTables, s)
		}
	}
	st.ReconcileLatencyMs, _ = m["reconcileLatencyMs"].(float64)
	st.Flagged, st.Refused, st.Quarantined = i(m, "flagged"), i(m, "refused"), i(m, "quarantined")
	if sv, ok := m["schema"].(map[string]any); ok {
		st.Schema = SchemaVersions{Local: i(sv, "local"), ServerMin: i(sv, "serverMin"), ServerMax: i(sv, "serverMax")}
	}
	return st
}

// SyncStatus returns the sync status now.
func (db *DB) SyncStatus(ctx context.Context) (SyncStatus, error) {
	v, err := db.c.request(ctx, protocol.OpSync, map[string]any{"db": db.handle})
	if err != nil {
		return SyncStatus{}, err
	}
	return syncStatusOf(v), nil
}

// WatchSync calls fn with the sync status now and on every change. fn runs
// on the transport's goroutine. The returned stop function ends it.
func (db *DB) WatchSync(ctx context.Context, fn func(SyncStatus)) (stop func(context.Context) error, err error) {
	var mu sync.Mutex
	ready := false
	var early []map[string]any
	handler := func(push map[string]any) {
		mu.Lock()
		defer mu.Unlock()
		if !ready {
			early = append(early, push)
			return
		}
		if st, ok := push["status"]; ok {
			fn(syncStatusOf(st))
		}
	}
	v, sub, err := db.subscribe(ctx, map[string]any{"db": db.handle, "sync": true}, handler)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	fn(syncStatusOf(v.(map[string]any)["status"]))
	ready = true
	pending := early
	early = nil
	mu.Unlock()
	for _, push := range pending {
		handler(push)
	}
	return db.unsubscriber(sub), nil
}

// SetOnline passes the page's network signal to the worker's sync
// clients (the board forwards the window's online/offline events).
func (c *Client) SetOnline(ctx context.Context, online bool) error {
	_, err := c.request(ctx, protocol.OpNetwork, map[string]any{"online": online})
	return err
}

// RetryQuarantined re-journals a quarantined outgoing change
// (_hearth_quarantine.id), renaming columns if rename is non-nil, and
// returns its journal seq.
func (db *DB) RetryQuarantined(ctx context.Context, quarantineID int64, rename map[string]string) (int64, error) {
	fields := map[string]any{"db": db.handle, "quarantineId": quarantineID}
	if rename != nil {
		m := map[string]any{}
		for k, v := range rename {
			m[k] = v
		}
		fields["rename"] = m
	}
	v, err := db.c.request(ctx, protocol.OpRetryQuarantined, fields)
	if err != nil {
		return 0, err
	}
	seq, _ := v.(map[string]any)["seq"].(int64)
	return seq, nil
}

// DiscardQuarantined drops a quarantined change for good.
func (db *DB) DiscardQuarantined(ctx context.Context, quarantineID int64) error {
	_, err := db.c.request(ctx, protocol.OpDiscardQuarantined, map[string]any{"db": db.handle, "quarantineId": quarantineID})
	return err
}

// DismissChange deletes a flagged or refused journal entry
// (_hearth_journal.seq) the app has shown.
func (db *DB) DismissChange(ctx context.Context, seq int64) error {
	_, err := db.c.request(ctx, protocol.OpDismissChange, map[string]any{"db": db.handle, "seq": seq})
	return err
}

// SetSyncToken gives sync a new bearer token (after the old one expired:
// State "paused-auth"); sync resumes at once.
func (db *DB) SetSyncToken(ctx context.Context, token string) error {
	_, err := db.c.request(ctx, protocol.OpSetSyncToken, map[string]any{"db": db.handle, "token": token})
	return err
}
