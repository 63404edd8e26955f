package client

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
	StateStopped    = "stopped"
)

// Progress is the initial sync's progress.
type Progress struct {
	Active bool
	// Rows applied so far, of Total rows in the snapshot.
	Rows, Total int64
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
	// Divergences counts checksum comparisons that found a table
	// different from the server's; Checksums counts comparisons made.
	Divergences, Checksums int64
	DivergedTables         []string
	// ReconcileLatency is the average time from a local commit to its
	// acknowledgment by the server, over LatencySamples entries.
	ReconcileLatency time.Duration
	LatencySamples   int64
	// Flagged, Refused and Quarantined count entries that ended that way
	// since the client started.
	Flagged, Refused, Quarantined int64
	// SchemaVersion is the local schema; ServerMin and ServerMax the range
	// the server accepts (known after a connection).
	SchemaVersion, ServerMin, ServerMax int64
}

func (s Status) clone() Status {
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
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	e.Map(19)
	e.Key("state")
	e.Text(s.State)
	e.Key("connected")
	e.Bool(s.Connected)
	e.Key("online")
	e.Bool(s.Online)
	e.Key("lastSyncedAt")
	e.Int(ms(s.LastSyncedAt))
	e.Key("pending")
	e.Int(s.Pending)
	e.Key("cursor")
	e.Int(s.Cursor)
	e.Key("head")
	e.Int(s.Head)
	e.Key("retries")
	e.Map(len(Classes))
	for _, c := range Classes {
		e.Key(string(c))
		e.Int(s.Retries[c])
	}
	e.Key("lastError")
	if s.LastError == nil {
		e.Null()
	} else {
		e.Map(4)
		e.Key("class")
		e.Text(string(s.LastError.Class))
		e.Key("code")
		e.Text(s.LastError.Code)
		e.Key("message")
		e.Text(s.LastError.Message)
		e.Key("at")
		e.Int(ms(s.LastError.At))
	}
	e.Key("nextAttemptAt")
	e.Int(ms(s.NextAttemptAt))
	e.Key("initialSync")
	e.Map(3)
	e.Key("active")
	e.Bool(s.InitialSync.Active)
	e.Key("rows")
	e.Int(s.InitialSync.Rows)
	e.Key("total")
	e.Int(s.InitialSync.Total)
	e.Key("divergences")
	e.Int(s.Divergences)
	e.Key("checksums")
	e.Int(s.Checksums)
	e.Key("divergedTables")
	e.Value(s.DivergedTables)
	e.Key("reconcileLatencyMs")
	e.Float(float64(s.ReconcileLatency) / float64(time.Millisecond))
	e.Key("flagged")
	e.Int(s.Flagged)
	e.Key("refused")
	e.Int(s.Refused)
	e.Key("quarantined")
	e.Int(s.Quarantined)
	e.Key("schema")
	e.Map(3)
	e.Key("local")
	e.Int(s.SchemaVersion)
	e.Key("serverMin")
	e.Int(s.ServerMin)
	e.Key("serverMax")
	e.Int(s.ServerMax)
}
