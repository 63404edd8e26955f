package client

import (
	"context"
	"sync"

	"github.com/hearthdb/hearth/syncworker/syncstatus"
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
	// Text names, per table, its collaborative text columns: they merge
	// character by character (the server's config must say the same).
	Text map[string][]string
	// Token is a bearer token for the server.
	Token string
	// NoReplica makes a new database sync by snapshot even when the
	// server builds replica files (GET /v1/replica; syncserver/replica);
	// ReplicaURL names that endpoint when it is not the sync URL's
	// …/v1/replica (http or https).
	NoReplica  bool
	ReplicaURL string
}

func (o *SyncOptions) fields() map[string]any {
	resurrect := map[string]bool{}
	for _, t := range o.Resurrect {
		resurrect[t] = true
	}
	tables := make([]any, len(o.Tables))
	for i, t := range o.Tables {
		entry := map[string]any{"name": t, "resurrect": resurrect[t]}
		if cols := o.Text[t]; len(cols) > 0 {
			list := make([]any, len(cols))
			for j, c := range cols {
				list[j] = c
			}
			entry["text"] = list
		}
		tables[i] = entry
	}
	f := map[string]any{"url": o.URL, "tables": tables}
	if o.Token != "" {
		f["token"] = o.Token
	}
	switch {
	case o.NoReplica:
		f["replica"] = false
	case o.ReplicaURL != "":
		f["replica"] = o.ReplicaURL
	}
	return f
}

// SyncStatus returns the sync status now: the worker's status, decoded
// from the map it sends the page.
func (db *DB) SyncStatus(ctx context.Context) (syncstatus.Status, error) {
	v, err := db.c.request(ctx, protocol.OpSync, map[string]any{"db": db.handle})
	if err != nil {
		return syncstatus.Status{}, err
	}
	return syncstatus.Decode(v), nil
}

// WatchSync calls fn with the sync status now and on every change, at
// most once per 50 ms (the worker sends the first change of a burst at
// once and the newest of the rest when the 50 ms end). fn runs on the
// transport's goroutine. The returned stop function ends it.
func (db *DB) WatchSync(ctx context.Context, fn func(syncstatus.Status)) (stop func(context.Context) error, err error) {
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
			fn(syncstatus.Decode(st))
		}
	}
	v, sub, err := db.subscribe(ctx, map[string]any{"db": db.handle, "sync": true}, handler)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	fn(syncstatus.Decode(v.(map[string]any)["status"]))
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
