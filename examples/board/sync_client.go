package main

import (
	"context"
	"strings"

	"github.com/hearthdb/hearth/client"
)

// clientSync is the sync bar's source when the board syncs: the worker's
// status through the Go client, and the page's online/offline events
// passed to the worker (a worker has no reliable network signal of its
// own).
type clientSync struct {
	hc *client.Client
	db *client.DB
}

func (s clientSync) Watch(ctx context.Context, fn func(SyncStatus)) (func(), error) {
	stopOnline := watchOnline(func(online bool) { s.hc.SetOnline(ctx, online) })
	stop, err := s.db.WatchSync(ctx, func(st client.SyncStatus) { fn(syncStatusOf(st)) })
	if err != nil {
		stopOnline()
		return nil, err
	}
	return func() { stopOnline(); stop(ctx) }, nil
}

func syncStatusOf(st client.SyncStatus) SyncStatus {
	out := SyncStatus{
		Enabled:      true,
		State:        st.State,
		Connected:    st.Connected,
		Online:       st.Online,
		LastSyncedAt: st.LastSyncedAt,
		Pending:      st.Pending,
		Retries:      st.Retries,
		InitialSync:  InitialSync{Active: st.InitialSync.Active, Rows: st.InitialSync.Rows, Total: st.InitialSync.Total},
		Flagged:      st.Flagged,
		Refused:      st.Refused,
		Quarantined:  st.Quarantined,
		Divergences:  st.Divergences,
	}
	// Being offline is said by the online pill; other failures show
	// their class unless the message already starts with it.
	if e := st.LastError; e != nil && e.Message != "" && !(e.Class == "offline" && !st.Online) {
		out.LastError = e.Message
		if !strings.HasPrefix(e.Message, e.Class) {
			out.LastError = e.Class + ": " + e.Message
		}
	}
	return out
}

// syncURL is the sync endpoint on the page's own origin: ws: or wss: as
// the page is http: or https:.
func syncURL(protocol, host string) string {
	scheme := "ws:"
	if protocol == "https:" {
		scheme = "wss:"
	}
	return scheme + "//" + host + "/sync"
}

// syncStatusJS is the status in the shape hearth.js's db.syncStatus()
// resolves to, for globalThis.hearthSyncStatus: the conformance kit's
// helpers read it the same way from either client.
func syncStatusJS(st client.SyncStatus) map[string]any {
	retries := map[string]any{}
	for k, v := range st.Retries {
		retries[k] = v
	}
	var lastError any
	if e := st.LastError; e != nil {
		lastError = map[string]any{"class": e.Class, "code": e.Code, "message": e.Message, "at": e.At}
	}
	diverged := make([]any, len(st.DivergedTables))
	for i, t := range st.DivergedTables {
		diverged[i] = t
	}
	return map[string]any{
		"state": st.State, "connected": st.Connected, "online": st.Online,
		"lastSyncedAt": st.LastSyncedAt, "pending": st.Pending,
		"cursor": st.Cursor, "head": st.Head,
		"retries": retries, "lastError": lastError, "nextAttemptAt": st.NextAttemptAt,
		"initialSync": map[string]any{"active": st.InitialSync.Active, "rows": st.InitialSync.Rows, "total": st.InitialSync.Total},
		"checksums":   st.Checksums, "divergences": st.Divergences, "divergedTables": diverged,
		"reconcileLatencyMs": st.ReconcileLatencyMs,
		"flagged":            st.Flagged, "refused": st.Refused, "quarantined": st.Quarantined,
		"schema": map[string]any{"local": st.Schema.Local, "serverMin": st.Schema.ServerMin, "serverMax": st.Schema.ServerMax},
	}
}

// unsyncedStatusJS is hearthSyncStatus before the database is open (state
// "opening") or on a local-only board ("local only"): never synced, so
// the kit's waitForSynced keeps waiting rather than passing.
func unsyncedStatusJS(state string, online bool) map[string]any {
	return syncStatusJS(client.SyncStatus{State: state, Online: online})
}
