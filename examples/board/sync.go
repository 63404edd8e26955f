package main

import (
	"context"
	"fmt"
	"time"

	"github.com/hearthdb/hearth/syncworker/syncstatus"
)

// SyncStatus is what the sync bar shows: the worker's sync status, as
// the Go client (client.DB.WatchSync) delivers it, and what the board
// adds to it.
type SyncStatus struct {
	syncstatus.Status
	// Enabled is false while the board runs local-only (no sync server).
	Enabled bool
	// ErrorText is the last failure as the bar shows it ("" for none).
	ErrorText string
}

// SyncSource reports sync status changes to the board.
type SyncSource interface {
	// Watch calls fn with the status now and on every change until stop.
	Watch(ctx context.Context, fn func(SyncStatus)) (stop func(), err error)
}

// localOnly is the sync source of a board without a sync server: it only
// follows the browser's online flag, so the bar still says whether the
// network is there.
type localOnly struct{}

func (localOnly) Watch(ctx context.Context, fn func(SyncStatus)) (func(), error) {
	return watchOnline(func(online bool) {
		fn(SyncStatus{Status: syncstatus.Status{State: "local only", Online: online}})
	}), nil
}

// shown is what the board shows of s (the sync bar, the empty board's
// text) at now: a status that shows the same needs no render.
func (s SyncStatus) shown(now time.Time) string {
	return fmt.Sprint(onlineLabel(s), s.Online, s.Enabled, s.Pending, s.lastSynced(now), s.retriesTotal(),
		s.InitialSync.Active, initialSyncLabel(s.InitialSync), s.ErrorText)
}

// retriesTotal sums retries over every class.
func (s SyncStatus) retriesTotal() int64 {
	var n int64
	for _, v := range s.Retries {
		n += v
	}
	return n
}

// lastSynced says when the last sync finished, relative to now.
func (s SyncStatus) lastSynced(now time.Time) string {
	if s.LastSyncedAt.IsZero() {
		return "never"
	}
	d := now.Sub(s.LastSyncedAt)
	switch {
	case d < 10*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	default:
		return s.LastSyncedAt.Format("Jan 2 15:04")
	}
}

func onlineLabel(s SyncStatus) string {
	switch {
	case !s.Online:
		return "offline"
	case s.Enabled && s.Connected:
		return "online, connected"
	case s.Enabled:
		return "online, " + s.State
	default:
		return "online"
	}
}

func initialSyncLabel(p syncstatus.Progress) string {
	if p.Total > 0 {
		return fmt.Sprintf("first sync %d/%d rows (%d%%)", p.Rows, p.Total, p.Rows*100/p.Total)
	}
	return fmt.Sprintf("first sync %d rows", p.Rows)
}

func storageText(storage string, persistent bool) string {
	if storage == "" {
		return "storage: opening"
	}
	if persistent {
		return storage + ", persistent"
	}
	return storage + ", may be evicted"
}

func pendingLabel(s SyncStatus) string { return fmt.Sprintf("%d pending", s.Pending) }

func syncedLabel(s SyncStatus, now time.Time) string { return "synced " + s.lastSynced(now) }

func retriesLabel(s SyncStatus) string { return fmt.Sprintf("%d retries", s.retriesTotal()) }

// barShape is which of the sync bar's pills s shows: a change that keeps
// it only changes their texts.
func (s SyncStatus) barShape() string {
	return fmt.Sprint(s.Enabled, s.Enabled && s.retriesTotal() > 0, s.InitialSync.Active, s.ErrorText != "")
}

// barTexts are the sync bar's texts for s at now, by element id: what a
// status change that keeps the bar's shape updates.
func (s SyncStatus) barTexts(now time.Time) map[string]string {
	t := map[string]string{"sync-online": onlineLabel(s)}
	if s.Enabled {
		t["sync-pending"], t["sync-last"] = pendingLabel(s), syncedLabel(s, now)
		if s.retriesTotal() > 0 {
			t["sync-retries"] = retriesLabel(s)
		}
	}
	if s.InitialSync.Active {
		t["sync-initial"] = initialSyncLabel(s.InitialSync)
	}
	if s.ErrorText != "" {
		t["sync-error"] = s.ErrorText
	}
	return t
}
