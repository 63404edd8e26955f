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
