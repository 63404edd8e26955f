package engine

import "time"

// A write's live update reaches the page before its commit's I/O (runWrite,
// runGroup), so an app that writes again as soon as it sees its last write
// (typing, dragging, a loop of awaited watch callbacks) sends the next
// write while that commit is still being made durable. On IndexedDB a
// commit is one IndexedDB transaction, about 4 ms in Chromium and more in
// WebKit: each such write waited for the commit before it, and its own
// update came that much later (e2e/bench/live.mjs, 2026-12-07: p50 7.2 ms,
// p95 17.3 ms for the first 100 writes of a fresh page, against 1.0 ms for
// writes that each wait for the one before to be durable). The commit
// window keeps a write transaction open a little longer when writes have
// been arriving during commits, so that the next write joins it: its
// update comes at once, and one commit makes all of them durable.
//
// The window opens only while writes arrive during commits (a paced writer
// never waits), only where commits are slow enough for waiting to pay
// (not on memory, rarely on OPFS), and it holds a transaction open for at
// most about one commit's time, so the first write's reply (durability)
// comes at most that much later than it would have.

// Defaults of Engine's commit window.
const (
	// DefaultCommitWindowMinCommit: commits faster than this do not open
	// the window; waiting would cost more than it saves.
	DefaultCommitWindowMinCommit = 1500 * time.Microsecond
	// DefaultCommitWindowWait: the longest wait for the next write.
	DefaultCommitWindowWait = 2 * time.Millisecond
)

// commitWindow is one database's window: what its recent commits took and
// whether writes came during them.
type commitWindow struct {
	// minCommit and maxWait are Engine's settings.
	minCommit, maxWait time.Duration
	// commit is a moving average of the recent commits' durations.
	commit time.Duration
	// busy: writes were waiting when the last commit ended, or the last
	// window caught one.
	busy bool
}

// observe records a commit that took d; waiting reports requests queued
// when it ended, caught writes that the transaction took in while open.
func (w *commitWindow) observe(d time.Duration, waiting, caught bool) {
	if w.commit == 0 {
		w.commit = d
	} else {
		w.commit = (3*w.commit + d) / 4
	}
	w.busy = waiting || caught
}

// wait is how long a write transaction open for held should wait for the
// next write before it commits: 0 for not at all.
func (w *commitWindow) wait(held time.Duration) time.Duration {
	if !w.busy || w.commit < w.minCommit {
		return 0
	}
	left := w.commit - held
	if left <= 0 {
		return 0
	}
	return min(left, w.maxWait)
}
