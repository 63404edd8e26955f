// Package syncstatus is the sync status: what the worker's sync client
// reports, and the map the worker sends the page for it. The worker
// encodes it here and the Go client decodes it here, so its shape is
// stated once on the Go side (web/hearth.d.ts states it for JavaScript; a
// test keeps the two equal). It imports only the codec, so browser
// bundles carry it without SQLite.
package syncstatus

import (
	"time"

	"github.com/hearthdb/hearth/codec"
)

// States of the sync loop.
const (
	StateStarting    = "starting"
	StateConnecting  = "connecting"
	StateInitialSync = "initial-sync"
	StateSyncing     = "syncing"
	StateBackoff     = "backoff"
	// StatePausedSchema: the server does not accept this schema version;
	// local writes keep being journaled and wait for a migration.
	StatePausedSchema = "paused-schema"
	// StateOffline: the device reported no network; no attempt is made
	// until it reports one.
	StateOffline = "offline"
	// StatePausedAuth: the server refused the token (HTTP 401) or it
	// expired (AUTH_EXPIRED); local writes keep being journaled until the
	// app has a new token and calls TokenChanged.
	StatePausedAuth = "paused-auth"
	// StatePausedReplica: the server refused this replica's client id
	// (CLIENT_TAKEN): it belongs to another principal, typically because
	// the device's user changed. Retrying cannot help, so the client does
	// not: local writes keep being journaled, and only TokenChanged (a
	// credential of the owner again) makes it try once more. An app that
	// sees it opens the database under a new name for the new user (a new
	// replica, with a client id of its own), or resets this one.
	StatePausedReplica = "paused-replica"
	StateStopped       = "stopped"
)

// Class is what kind of failure ended a sync attempt. The status counts
// retries by class, and the class decides how the client waits.
type Class string

const (
	// ClassOffline: the server could not be reached, or the connection
	// dropped.
	ClassOffline Class = "offline"
	// ClassTimeout: the server did not answer in time (a hang).
	ClassTimeout Class = "timeout"
	// ClassAuth: the server refused our credentials (HTTP 401/403).
	ClassAuth Class = "auth"
	// ClassSchema: the server does not accept our schema version (HTTP
	// 409, SCHEMA_MISMATCH). Sync pauses until a migration.
	ClassSchema Class = "schema"
	// ClassServer: the server failed (HTTP 5xx, INTERNAL, shutting down).
	ClassServer Class = "server"
	// ClassProtocol: the server sent garbage or refused our messages as
	// malformed; a bug on one side.
	ClassProtocol Class = "protocol"
	// ClassLocal: the local database failed.
	ClassLocal Class = "local"
	// ClassReplica: the server refused the replica's client id as another
	// principal's (CLIENT_TAKEN). Sync pauses in StatePausedReplica.
	ClassReplica Class = "replica"
)

// Classes lists every class, in a fixed order.
var Classes = []Class{ClassOffline, ClassTimeout, ClassAuth, ClassSchema, ClassServer, ClassProtocol, ClassLocal, ClassReplica}

// Progress is the initial sync's progress.
type Progress struct {
	Active bool
	// Rows applied so far, of Total rows in the snapshot.
	Rows, Total int64
	// Phases is where the sync's time went so far.
	Phases Phases
}

// Phases splits an initial sync's time, so a slow one says which part is
// slow. Decode runs on the reader goroutine, beside the others; on a
// single thread (wasm) it takes its time from them.
type Phases struct {
	// Chunks and Bytes count the snapshot chunks received and their
	// encoded size.
	Chunks, Bytes int64
	// Wait is the time spent waiting for the next chunk (the network and
	// the server); Decode the time decoding frames; Queue the time a
	// received chunk waited for the database (the app's requests and the
	// live queries that ran first; in wasm, on one thread, whatever else
	// ran meanwhile, such as decoding the next chunk); Merge the time merging changes into
	// the tables; Index the time dropping the synced tables' plain indexes
	// for a large snapshot and building them at its end; Commit the rest
	// of applying a chunk (begin, saving the sync state, commit and what
	// it writes to storage).
	Wait, Decode, Queue, Merge, Index, Commit time.Duration
}

// Replica is how a new device's database began: from a replica file the
// server built (its rows, metadata and cursor in one download), or, when
// none was used, why not.
type Replica struct {
	// Used: the database began as the server's file.
	Used bool
	// Bytes is the file's size; Download the time to receive it, Restore
	// the time to copy it into the database.
	Bytes             int64
	Download, Restore time.Duration
	// HeadStart: the worker's bootstrap began the download before Go
	// ran (the page's first open, of a database the origin did not
	// store), and Go took it.
	HeadStart bool
	// Reason, when the file was not used, says why ("" when it was, and
	// when the database was not new).
	Reason string
}

// ErrorInfo describes the last failure.
type ErrorInfo struct {
	Class   Class
	Code    string
	Message string
	At      time.Time
}

// Status is the sync client's state as the worker shows it to the page.
type Status struct {
	State     string
	Connected bool
	// Online is the last network signal the worker passed on.
	Online bool
	// LastSyncedAt is when the replica last had nothing left to push and
	// had applied everything the server had.
	LastSyncedAt time.Time
	// Pending counts journal entries not acknowledged yet.
	Pending int64
	// Cursor is the server log position applied; Head the server's last
	// known head.
	Cursor, Head int64
	// Retries counts failed attempts by class.
	Retries   map[Class]int64
	LastError *ErrorInfo
	// NextAttemptAt is when the next connection attempt is due while
	// backing off.
	NextAttemptAt time.Time
	InitialSync   Progress
	// Replica is how this database began, if it began in this worker.
	Replica Replica
	// Divergences counts checksum comparisons that found a table
	// different from the server's; Checksums counts comparisons made.
	Divergences, Checksums int64
	DivergedTables         []string
	// ReconcileLatency is the average time from a local commit to its
	// acknowledgment by the server, over LatencySamples entries
	// (LatencySamples stays in the worker: the page is not sent it).
	ReconcileLatency time.Duration
	LatencySamples   int64
	// Flagged, Refused and Quarantined count entries that ended that way
	// since the client started.
	Flagged, Refused, Quarantined int64
	// SchemaVersion is the local schema; ServerMin and ServerMax the range
	// the server accepts (known after a connection).
	SchemaVersion, ServerMin, ServerMax int64
}

// Clone copies the status, maps and slices included, so a snapshot
// handed out does not change with the client's.
func (s Status) Clone() Status {
	c := s
	c.Retries = make(map[Class]int64, len(s.Retries))
	for k, v := range s.Retries {
		c.Retries[k] = v
	}
	if s.LastError != nil {
		e := *s.LastError
		c.LastError = &e
	}
	c.DivergedTables = append([]string(nil), s.DivergedTables...)
	return c
}

// Encode writes the status as a map with the wire format's tagged codec,
// for the worker to send to the page. Times are Unix milliseconds (0 for
// never), durations milliseconds.
func (s Status) Encode(e *codec.Encoder) {
	m := e.BeginMap()
	defer m.End()
	m.Key("state")
	e.Text(s.State)
	m.Key("connected")
	e.Bool(s.Connected)
	m.Key("online")
	e.Bool(s.Online)
	m.Key("lastSyncedAt")
	e.Int(unixMilli(s.LastSyncedAt))
	m.Key("pending")
	e.Int(s.Pending)
	m.Key("cursor")
	e.Int(s.Cursor)
	m.Key("head")
	e.Int(s.Head)
	m.Key("retries")
	retries := e.BeginMap()
	for _, c := range Classes {
		retries.Key(string(c))
		e.Int(s.Retries[c])
	}
	retries.End()
	m.Key("lastError")
	if s.LastError == nil {
		e.Null()
	} else {
		le := e.BeginMap()
		le.Key("class")
		e.Text(string(s.LastError.Class))
		le.Key("code")
		e.Text(s.LastError.Code)
		le.Key("message")
		e.Text(s.LastError.Message)
		le.Key("at")
		e.Int(unixMilli(s.LastError.At))
		le.End()
	}
	m.Key("nextAttemptAt")
	e.Int(unixMilli(s.NextAttemptAt))
	m.Key("initialSync")
	is := e.BeginMap()
	is.Key("active")
	e.Bool(s.InitialSync.Active)
	is.Key("rows")
	e.Int(s.InitialSync.Rows)
	is.Key("total")
	e.Int(s.InitialSync.Total)
	ph := s.InitialSync.Phases
	is.Key("chunks")
	e.Int(ph.Chunks)
	is.Key("bytes")
	e.Int(ph.Bytes)
	for _, d := range []struct {
		key string
		d   time.Duration
	}{{"waitMs", ph.Wait}, {"decodeMs", ph.Decode}, {"queueMs", ph.Queue}, {"mergeMs", ph.Merge}, {"indexMs", ph.Index}, {"commitMs", ph.Commit}} {
		is.Key(d.key)
		e.Float(float64(d.d) / float64(time.Millisecond))
	}
	is.End()
	m.Key("replica")
	rp := e.BeginMap()
	rp.Key("used")
	e.Bool(s.Replica.Used)
	rp.Key("bytes")
	e.Int(s.Replica.Bytes)
	rp.Key("downloadMs")
	e.Float(float64(s.Replica.Download) / float64(time.Millisecond))
	rp.Key("restoreMs")
	e.Float(float64(s.Replica.Restore) / float64(time.Millisecond))
	rp.Key("headStart")
	e.Bool(s.Replica.HeadStart)
	rp.Key("reason")
	e.Text(s.Replica.Reason)
	rp.End()
	m.Key("divergences")
	e.Int(s.Divergences)
	m.Key("checksums")
	e.Int(s.Checksums)
	m.Key("divergedTables")
	e.Value(s.DivergedTables)
	m.Key("reconcileLatencyMs")
	e.Float(float64(s.ReconcileLatency) / float64(time.Millisecond))
	m.Key("flagged")
	e.Int(s.Flagged)
	m.Key("refused")
	e.Int(s.Refused)
	m.Key("quarantined")
	e.Int(s.Quarantined)
	m.Key("schema")
	sv := e.BeginMap()
	sv.Key("local")
	e.Int(s.SchemaVersion)
	sv.Key("serverMin")
	e.Int(s.ServerMin)
	sv.Key("serverMax")
	e.Int(s.ServerMax)
	sv.End()
}

// Page is the status as the page receives it: Encode's map, decoded.
func (s Status) Page() map[string]any {
	var e codec.Encoder
	s.Encode(&e)
	v, err := codec.Decode(e.Bytes())
	if err != nil {
		panic("syncstatus: Encode wrote a map codec cannot decode: " + err.Error())
	}
	return v.(map[string]any)
}

// Decode reads a status from the map Encode writes, as the page (or the
// Go client) receives it decoded. Missing or mistyped entries read as
// zero, so a newer or older worker's map still decodes.
func Decode(v any) Status {
	m, _ := v.(map[string]any)
	st := Status{Retries: map[Class]int64{}}
	st.State, _ = m["state"].(string)
	st.Connected, _ = m["connected"].(bool)
	st.Online, _ = m["online"].(bool)
	st.LastSyncedAt = fromUnixMilli(intOf(m, "lastSyncedAt"))
	st.Pending = intOf(m, "pending")
	st.Cursor, st.Head = intOf(m, "cursor"), intOf(m, "head")
	if r, ok := m["retries"].(map[string]any); ok {
		for k := range r {
			st.Retries[Class(k)] = intOf(r, k)
		}
	}
	if e, ok := m["lastError"].(map[string]any); ok {
		le := &ErrorInfo{At: fromUnixMilli(intOf(e, "at"))}
		class, _ := e["class"].(string)
		le.Class = Class(class)
		le.Code, _ = e["code"].(string)
		le.Message, _ = e["message"].(string)
		st.LastError = le
	}
	st.NextAttemptAt = fromUnixMilli(intOf(m, "nextAttemptAt"))
	if p, ok := m["initialSync"].(map[string]any); ok {
		st.InitialSync.Active, _ = p["active"].(bool)
		st.InitialSync.Rows, st.InitialSync.Total = intOf(p, "rows"), intOf(p, "total")
		ph := &st.InitialSync.Phases
		ph.Chunks, ph.Bytes = intOf(p, "chunks"), intOf(p, "bytes")
		for _, d := range []struct {
			key string
			d   *time.Duration
		}{{"waitMs", &ph.Wait}, {"decodeMs", &ph.Decode}, {"queueMs", &ph.Queue}, {"mergeMs", &ph.Merge}, {"indexMs", &ph.Index}, {"commitMs", &ph.Commit}} {
			ms, _ := p[d.key].(float64)
			*d.d = time.Duration(ms * float64(time.Millisecond))
		}
	}
	if r, ok := m["replica"].(map[string]any); ok {
		st.Replica.Used, _ = r["used"].(bool)
		st.Replica.Bytes = intOf(r, "bytes")
		download, _ := r["downloadMs"].(float64)
		restore, _ := r["restoreMs"].(float64)
		st.Replica.Download = time.Duration(download * float64(time.Millisecond))
		st.Replica.Restore = time.Duration(restore * float64(time.Millisecond))
		st.Replica.HeadStart, _ = r["headStart"].(bool)
		st.Replica.Reason, _ = r["reason"].(string)
	}
	st.Divergences, st.Checksums = intOf(m, "divergences"), intOf(m, "checksums")
	if list, ok := m["divergedTables"].([]any); ok {
		for _, t := range list {
			if s, ok := t.(string); ok {
				st.DivergedTables = append(st.DivergedTables, s)
			}
		}
	}
	ms, _ := m["reconcileLatencyMs"].(float64)
	st.ReconcileLatency = time.Duration(ms * float64(time.Millisecond))
	st.Flagged, st.Refused, st.Quarantined = intOf(m, "flagged"), intOf(m, "refused"), intOf(m, "quarantined")
	if sv, ok := m["schema"].(map[string]any); ok {
		st.SchemaVersion, st.ServerMin, st.ServerMax = intOf(sv, "local"), intOf(sv, "serverMin"), intOf(sv, "serverMax")
	}
	return st
}

func intOf(m map[string]any, k string) int64 {
	n, _ := m[k].(int64)
	return n
}

// unixMilli is a time as the page reads it: Unix milliseconds, 0 for
// never.
func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromUnixMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
