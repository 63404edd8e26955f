package main

import (
	"context"
	"strings"

	"github.com/hearthdb/hearth/client"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
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
	stop, err := s.db.WatchSync(ctx, func(st syncstatus.Status) { fn(syncStatusOf(st)) })
	if err != nil {
		stopOnline()
		return nil, err
	}
	return func() { stopOnline(); stop(ctx) }, nil
}

func syncStatusOf(st syncstatus.Status) SyncStatus {
	out := SyncStatus{Status: st, Enabled: true}
	// Being offline is said by the online pill; other failures show
	// their class unless the message already starts with it.
	if e := st.LastError; e != nil && e.Message != "" && !(e.Class == syncstatus.ClassOffline && !st.Online) {
		out.ErrorText = e.Message
		if !strings.HasPrefix(e.Message, string(e.Class)) {
			out.ErrorText = string(e.Class) + ": " + e.Message
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

// unsyncedStatusJS is hearthSyncStatus before the database is open (state
// "opening") or on a local-only board ("local only"): never synced, so
// the kit's waitForSynced keeps waiting rather than passing. A synced
// board answers with the worker's status as hearth.js's db.syncStatus()
// resolves to it (syncstatus.Status.Page), so the conformance kit's
// helpers read either client the same way.
func unsyncedStatusJS(state string, online bool) map[string]any {
	return syncstatus.Status{State: state, Online: online}.Page()
}
