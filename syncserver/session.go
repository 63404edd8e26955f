package syncserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/merge"
	"github.com/hearthdb/hearth/syncworker/wire"
	"golang.org/x/time/rate"
)

// maxBadFrames is how many unreadable messages a connection may send
// before the server gives up on it.
const maxBadFrames = 16

// session serves one client connection. One goroutine handles the
// client's requests and streams the log, so every message the client
// receives is in order: a Checksums reply follows the log entries it
// covers, an Ack follows nothing it depends on.
type session struct {
	srv       *Server
	ws        *websocket.Conn
	principal string
	remote    string
	ctx       context.Context
	cancel    context.CancelFunc

	hello      bool
	client     string
	schema     int64
	subscribed bool
	// pos is the log position streamed to the client so far.
	pos int64
	// toldUpto and toldHead are the cursor and the head the client last
	// heard of (welcome, sub, changes). While it was caught up (toldUpto
	// at toldHead), entries it may not read move pos without a message:
	// the client is then owed its cursor since owedSince (the server's
	// clock; tell is set while it is owed) and told QuietCursorDelay
	// later: by tell when the log is quiet, by pump while it keeps moving.
	toldUpto, toldHead int64
	owedSince          time.Time
	tell               *time.Timer
	// resync, while the client catches up past a compacted log, is the
	// snapshot streamed to it instead.
	resync    *resync
	badFrames int

	// ident is who opened the connection; its expiry ends the session.
	ident Identity
	// access is what the connection may read and write.
	access *access
	// limiter is the push rate of the connection's principal (nil:
	// unlimited).
	limiter *rate.Limiter
	// snapshotRows and checksumCalls are the principal's buckets of
	// snapshot rows and checksum requests (nil: unlimited).
	snapshotRows, checksumCalls *rate.Limiter
	// opened, pushes, changes and ended are for the log line at close.
	opened          time.Time
	pushes, changes int64
	ended           string
	// enc is reused by every message the session sends (see encode).
	enc codec.Encoder
}

// inbound is one message read from the client.
type inbound struct {
	frame wire.Frame
	// reject is an answer to a message that could not be read.
	reject *wire.Error
	// err ends the connection.
	err error
	// weight is what the decoded frame holds of the server's decoding
	// budget, until handled.
	weight int64
}

func newSession(s *Server, ws *websocket.Conn, id Identity, remote string) *session {
	// Hooks called with the session's context (Authorize, Invariants)
	// find the identity, scopes included, with IdentityFrom.
	acc := newAccess(s, id)
	ctx := context.WithValue(context.WithValue(context.Background(), identityKey{}, id), accessKey{}, acc)
	ctx, cancel := context.WithCancel(ctx)
	c := &session{srv: s, ws: ws, principal: id.Principal, remote: remote, ctx: ctx, cancel: cancel, ident: id, access: acc, opened: time.Now()}
	c.limiter = s.pushRates.bucket(id.Principal)
	c.snapshotRows = s.snapshotRates.bucket(id.Principal)
	c.checksumCalls = s.checksumRates.bucket(id.Principal)
	return c
}

func (c *session) serve() {
	defer c.ws.CloseNow()
	defer c.cancel()
	incoming := make(chan inbound, 8)
	readerDone := make(chan struct{})
	go func() {
		c.read(incoming)
		close(readerDone)
	}()
	// Runs first: stop the reader, then give back the decoding budget of
	// the frames it read that were never handled.
	defer func() {
		c.cancel()
		<-readerDone
		for {
			select {
			case in := <-incoming:
				c.srv.decoding.Release(in.weight)
			default:
				return
			}
		}
	}()
	// A connection that never says hello holds a socket and a goroutine
	// for nothing: it gets HelloTimeout to introduce itself.
	helloTimer := time.NewTimer(c.srv.cfg.HelloTimeout)
	defer helloTimer.Stop()
	helloDue := helloTimer.C
	var expired <-chan time.Time
	if !c.ident.Expires.IsZero() {
		timer := time.NewTimer(c.ident.Expires.Sub(c.srv.cfg.Now()))
		defer timer.Stop()
		expired = timer.C
	}
	defer c.stopTell()
	for {
		head, changed := c.srv.head.get()
		if c.subscribed && c.pos < head {
			// Requests go first, so a busy log does not delay an ack.
			select {
			case <-expired:
				c.expire()
				return
			case in := <-incoming:
				if !c.handled(in) {
					return
				}
				continue
			default:
			}
			if err := c.pump(); err != nil {
				c.srv.log.Info("sync: streaming the log failed", "client", c.client, "err", err)
				return
			}
			continue
		}
		if c.hello {
			helloDue = nil
		}
		select {
		case in := <-incoming:
			if !c.handled(in) {
				return
			}
		case <-helloDue:
			c.ended = "no hello"
			c.send(&wire.Error{Code: wire.CodeBadRequest, Message: fmt.Sprintf("no hello within %v", c.srv.cfg.HelloTimeout)})
			c.ws.Close(websocket.StatusPolicyViolation, "no hello")
			return
		case <-changed:
		case <-c.tellDue():
			if err := c.tellCursor(); err != nil {
				c.srv.log.Info("sync: streaming the log failed", "client", c.client, "err", err)
				return
			}
		case <-expired:
			c.expire()
			return
		case <-c.srv.shutdown:
			c.ended = "server shutting down"
			c.send(&wire.Error{Code: wire.CodeShuttingDown, Message: "the server is shutting down; reconnect later"})
			c.ws.Close(websocket.StatusGoingAway, "server shutting down")
			return
		}
	}
}

// read turns frames into inbound messages. A frame over the size limit
// is skipped with a TOO_LARGE answer (the hard read limit set on the
// connection ends one that is far larger).
func (c *session) read(out chan<- inbound) {
	limit := c.srv.cfg.MaxMessageBytes
	deliver := func(in inbound) bool {
		select {
		case out <- in:
			return true
		case <-c.ctx.Done():
			c.srv.decoding.Release(in.weight)
			return false
		}
	}
	for {
		typ, r, err := c.ws.Reader(c.ctx)
		if err != nil {
			deliver(inbound{err: err})
			return
		}
		b, err := io.ReadAll(io.LimitReader(r, limit+1))
		if err != nil {
			deliver(inbound{err: err})
			return
		}
		var in inbound
		switch {
		case int64(len(b)) > limit:
			if _, err := io.Copy(io.Discard, r); err != nil {
				deliver(inbound{err: err})
				return
			}
			in.reject = &wire.Error{Code: wire.CodeTooLarge, Message: fmt.Sprintf("message over %d bytes; send smaller batches", limit)}
		case typ != websocket.MessageBinary:
			in.reject = &wire.Error{Code: wire.CodeBadRequest, Message: "sync messages are binary frames"}
		default:
			// Decoded, a frame takes several times its size (a frame of
			// nulls 16 times): the server's decoding budget bounds what
			// all connections hold at once; a reader waits for room.
			in.weight = c.srv.decodeWeight(len(b))
			if err := c.srv.decoding.Acquire(c.ctx, in.weight); err != nil {
				return
			}
			f, err := wire.Decode(b)
			switch {
			case errors.Is(err, wire.ErrVersion):
				in.reject = &wire.Error{Code: wire.CodeProtocolVersion, Message: err.Error()}
			case err != nil:
				in.reject = &wire.Error{Code: wire.CodeBadRequest, Message: err.Error()}
			default:
				in.frame = f
			}
		}
		if !deliver(in) {
			return
		}
	}
}

// handled handles a message and gives back its decoding budget.
func (c *session) handled(in inbound) bool {
	defer c.srv.decoding.Release(in.weight)
	return c.handle(in)
}

// expire ends a session whose credential expired: the client learns why
// (AUTH_EXPIRED, not a dropped connection) and reconnects with a fresh
// one.
func (c *session) expire() {
	c.ended = "credential expired"
	c.send(&wire.Error{Code: wire.CodeAuthExpired, Message: "the credential this connection was opened with expired; reconnect with a fresh one"})
	c.ws.Close(websocket.StatusPolicyViolation, "credential expired")
}

func (c *session) send(m wire.Message) error {
	if e, ok := m.(*wire.Error); ok {
		c.srv.metrics.countError(errSession, e.Code)
		level := slog.LevelInfo
		if e.Code == wire.CodeRateLimited {
			level = slog.LevelDebug // routine under load; the metric counts them
		}
		c.srv.log.Log(context.Background(), level, "sync: error sent", "client", c.client, "principal", c.principal, "code", e.Code, "re", e.Re, "message", e.Message)
	}
	b, err := c.encode(m)
	if err != nil {
		return fmt.Errorf("encode %s: %w", wire.Type(m), err)
	}
	if ch, ok := m.(wire.Changes); ok {
		c.toldUpto, c.toldHead = ch.Upto, ch.Head
		c.stopTell()
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.srv.cfg.WriteTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageBinary, b); err != nil {
		return fmt.Errorf("send %s: %w", wire.Type(m), err)
	}
	return nil
}

// fail answers a request with an error; it reports whether the session
// goes on.
func (c *session) fail(re int64, code, format string, args ...any) bool {
	err := c.send(&wire.Error{Re: re, Code: code, Message: fmt.Sprintf(format, args...)})
	return err == nil
}

// handle processes one inbound message and reports whether the session
// goes on.
func (c *session) handle(in inbound) bool {
	if in.err != nil {
		c.ended = in.err.Error()
		if websocket.CloseStatus(in.err) == -1 && !errors.Is(in.err, context.Canceled) {
			c.srv.log.Info("sync: connection lost", "client", c.client, "remote", c.remote, "err", in.err)
		}
		return false
	}
	if in.reject != nil {
		c.badFrames++
		if !c.fail(0, in.reject.Code, "%s", in.reject.Message) {
			return false
		}
		if c.badFrames >= maxBadFrames {
			c.ws.Close(websocket.StatusPolicyViolation, "too many malformed messages")
			return false
		}
		return true
	}
	f := in.frame
	if !c.hello {
		h, ok := f.Msg.(wire.Hello)
		if !ok {
			return c.fail(0, wire.CodeBadRequest, "the first message must be hello, got %s", wire.Type(f.Msg))
		}
		return c.greet(f.Schema, h)
	}
	if f.Schema != c.schema {
		return c.fail(0, wire.CodeBadRequest, "schema version changed from %d to %d within a connection; reconnect", c.schema, f.Schema)
	}
	switch m := f.Msg.(type) {
	case wire.Push:
		return c.push(m)
	case wire.Subscribe:
		s := c.srv
		head, _ := s.head.get()
		if m.After > head {
			// Another instance on a shared store may be ahead of our signal.
			if _, h, err := c.srv.store.Log(c.ctx, head, 0); err == nil {
				c.srv.head.advance(h)
				head = max(head, h)
			}
		}
		if m.After > head {
			return c.fail(0, wire.CodeBadRequest, "cursor %d is beyond the log head %d", m.After, head)
		}
		if c.subscribed && c.snapshotRows != nil {
			// Subscribing again streams the log again from the cursor:
			// clients subscribe once per connection, and a repeat costs
			// the entries it re-reads, like snapshot rows.
			cost := int(min(head-max(m.After, 0), int64(s.cfg.SnapshotBurst)))
			if admitted, goOn := c.admitCost(0, c.snapshotRows, max(cost, 1), fmt.Sprintf("subscribing again re-reads %d log entries; over %g per second", head-max(m.After, 0), s.cfg.SnapshotRate)); !admitted {
				return goOn
			}
		}
		c.subscribed, c.pos = true, max(m.After, 0)
		c.toldUpto = c.pos
		c.stopTell()
		return true
	case wire.SnapshotRequest:
		return c.snapshot(m)
	case wire.ChecksumRequest:
		return c.checksums(m)
	case wire.Ping:
		return c.send(wire.Pong{Re: m.ID}) == nil
	case wire.Hello:
		return c.fail(0, wire.CodeBadRequest, "hello was already sent")
	}
	return c.fail(0, wire.CodeBadRequest, "a client may not send %s", wire.Type(f.Msg))
}

func (c *session) greet(schemaVersion int64, h wire.Hello) bool {
	s := c.srv
	if err := validClientID(h.Client); err != nil {
		return c.fail(0, wire.CodeBadRequest, "%v", err)
	}
	if schemaVersion < s.minVer || schemaVersion > s.info.Version {
		c.send(&wire.Error{Code: wire.CodeSchemaMismatch, Min: s.minVer, Max: s.info.Version,
			Message: fmt.Sprintf("this server accepts schema versions %d to %d, the client is at %d", s.minVer, s.info.Version, schemaVersion)})
		c.ws.Close(websocket.StatusPolicyViolation, "schema mismatch")
		return false
	}
	// The id is bound to the first principal that says hello with it:
	// another principal's connection under it could push under its seqs
	// (answered with the owner's outcomes), and the owner would skip the
	// entries stamped with its id.
	owner, err := s.store.BindClient(c.ctx, h.Client, c.principal)
	if err != nil {
		s.log.Error("sync: binding the client id failed", "client", h.Client, "principal", c.principal, "err", err)
		c.ended = "binding the client id failed"
		c.send(&wire.Error{Code: wire.CodeInternal, Message: "the server could not check the client id; retry later"})
		c.ws.Close(websocket.StatusInternalError, "client id check failed")
		return false
	}
	if owner != "" && owner != c.principal {
		c.clientTaken(h.Client)
		return false
	}
	c.hello, c.client, c.schema = true, h.Client, schemaVersion
	c.access.subscribe(h.Scopes)
	head, _ := s.head.get()
	s.log.Info("sync: connection opened", "principal", c.principal, "client", c.client, "remote", c.remote, "schema", schemaVersion, "cursor", h.Cursor)
	c.toldHead = head
	return c.send(wire.Welcome{Server: s.info.ID, Head: head, Min: s.minVer, Max: s.info.Version, MaxMessage: s.cfg.MaxMessageBytes,
		MaxBatch: int64(s.cfg.MaxPushBatch), Now: s.cfg.Now().UnixMilli(), MaxSkew: max(s.cfg.MaxClockSkew, 0).Milliseconds()}) == nil
}

// clientTaken ends a connection whose client id belongs to another
// principal. The owner is not named: that would tell one user another's
// identity.
func (c *session) clientTaken(client string) {
	c.srv.log.Warn("sync: client id of another principal refused", "client", client, "principal", c.principal, "remote", c.remote)
	c.ended = "client id taken"
	c.send(&wire.Error{Code: wire.CodeClientTaken, Message: fmt.Sprintf("the client id %q belongs to another user; sync this replica under a new client id", client)})
	c.ws.Close(websocket.StatusPolicyViolation, "client id taken")
}

func validClientID(id string) error {
	if id == "" || len(id) > 128 {
		return fmt.Errorf("client id must be 1 to 128 bytes, got %d", len(id))
	}
	if strings.HasPrefix(id, "server-") {
		return fmt.Errorf("client id %q is reserved", id)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("client id %q contains a control character", id)
		}
	}
	return nil
}

func (c *session) push(m wire.Push) bool {
	s := c.srv
	if admitted, goOn := c.admitPush(m); !admitted {
		return goOn
	}
	p := store.Push{Client: c.client, Principal: c.principal, Schema: c.schema, Stamp: c.stamp,
		MaxRowBytes: max(s.cfg.MaxRowBytes, 0), MaxPrincipalBytes: max(s.cfg.MaxPrincipalBytes, 0), TextCompactTombstones: max(s.cfg.TextCompactTombstones, 0)}
	p.Changes = make([]store.Pushed, len(m.Changes))
	for i, ch := range m.Changes {
		p.Changes[i] = store.Pushed{Seq: ch.Seq, Change: ch.Change}
		if ch.Schema > s.info.Version {
			return c.send(&wire.Error{Re: m.ID, Code: wire.CodeSchemaMismatch, Min: s.minVer, Max: s.info.Version,
				Message: fmt.Sprintf("change seq %d was written under schema version %d; this server knows up to %d", ch.Seq, ch.Schema, s.info.Version)}) == nil
		}
	}
	headBefore, _ := s.head.get()
	started := time.Now()
	res, err := s.store.Push(c.ctx, p, checker{s: s})
	if err == nil {
		c.pushed(len(m.Changes), headBefore, res, started)
	}
	if err != nil {
		if errors.Is(err, store.ErrBadRequest) {
			return c.fail(m.ID, wire.CodeBadRequest, "%v", err)
		}
		if errors.Is(err, store.ErrClientTaken) {
			// The binding changed under a live connection (an operator
			// released the id and another principal took it).
			c.clientTaken(c.client)
			return false
		}
		s.log.Error("sync: push failed", "client", c.client, "err", err)
		return c.fail(m.ID, wire.CodeInternal, "the server could not store the push; retry later")
	}
	s.head.advance(res.Head)
	ack := wire.Ack{Re: m.ID, Results: res.Outcomes}
	for i, o := range ack.Results {
		if o.State == wire.Refused {
			ack.Results[i].Row = c.access.rollbackRow(p.Changes[i].Table, p.Changes[i].Key, o.Row)
		}
	}
	return c.send(ack) == nil
}

// stamp stamps a change the server writes itself.
func (c *session) stamp() hlc.Stamp { return hlc.Stamp{TS: c.srv.clock.Now(), Node: c.srv.node} }

func (c *session) snapshot(m wire.SnapshotRequest) bool {
	s := c.srv
	limit := int(m.Limit)
	if limit <= 0 || limit > s.cfg.MaxSnapshotChunk {
		limit = s.cfg.MaxSnapshotChunk
	}
	// Charged before anything is read or subscribed: a refused request
	// changes nothing, and the client asks again after retryAfter.
	if admitted, goOn := c.admitCost(m.ID, c.snapshotRows, limit, fmt.Sprintf("over %g snapshot rows per second", s.cfg.SnapshotRate)); !admitted {
		return goOn
	}
	// A snapshot naming scopes adds them to the subscription first, so
	// the log streamed from now on carries them too: the chunks read the
	// rows' state as of now, the stream every change after.
	view := c.access.view()
	if m.Scopes != nil {
		c.access.add(m.Scopes)
		view = &store.View{Scopes: []string{}, ScopedOnly: true}
		for _, sc := range m.Scopes {
			if c.access.readsGranted("", store.Scope{Value: sc, Known: true}) {
				view.Scopes = append(view.Scopes, sc)
			}
		}
	}
	chunk, err := s.store.Snapshot(c.ctx, m.At, merge.Cursor{Table: m.After.Table, Key: m.After.Key}, limit, view)
	if err != nil {
		if errors.Is(err, store.ErrBadRequest) {
			return c.fail(m.ID, wire.CodeBadRequest, "%v", err)
		}
		s.log.Error("sync: snapshot failed", "client", c.client, "err", err)
		return c.fail(m.ID, wire.CodeInternal, "the server could not read the snapshot; retry later")
	}
	trimChunk(&chunk, s.cfg.MaxSendBytes)
	chunk.Changes = c.chunkChanges(chunk.Changes, m.Scopes != nil)
	s.metrics.chunks.Inc()
	s.metrics.chunkRows.Add(float64(chunk.Rows))
	return c.send(wire.Chunk{Re: m.ID, At: chunk.At, Changes: chunk.Changes, Rows: chunk.Rows, Total: chunk.Total,
		Next: wire.SnapshotCursor{Table: chunk.Next.Table, Key: chunk.Next.Key}, Done: chunk.Done}) == nil
}

func (c *session) checksums(m wire.ChecksumRequest) bool {
	s := c.srv
	if admitted, goOn := c.admitCost(m.ID, c.checksumCalls, 1, fmt.Sprintf("over one checksum request per %v", s.cfg.ChecksumInterval)); !admitted {
		return goOn
	}
	head, sums, err := s.store.Checksums(c.ctx)
	if err != nil {
		s.log.Error("sync: checksums failed", "client", c.client, "err", err)
		return c.fail(m.ID, wire.CodeInternal, "the server could not compute checksums; retry later")
	}
	// The client compares at position head: send it everything up to
	// there first.
	for c.subscribed && c.pos < head {
		if err := c.pump(); err != nil {
			return false
		}
	}
	if c.tell != nil {
		if err := c.tellCursor(); err != nil {
			return false
		}
	}
	out := wire.Checksums{Re: m.ID, Pos: head, Tables: make(map[string]wire.TableSum, len(sums))}
	for name, sum := range sums {
		if (c.srv.scopes.Scoped(name) && c.access.restricted()) || !c.access.tableRead(name) {
			continue // the client holds part of it: not comparable
		}
		out.Tables[name] = wire.TableSum{Rows: sum.Rows, Hash: sum.Hash}
	}
	return c.send(out) == nil
}

// pump sends the next batch of log entries. The client's own changes
// are left out (it has them), but Upto covers them so its cursor moves.
func (c *session) pump() error {
	s := c.srv
	if c.resync != nil {
		return c.pumpSnapshot()
	}
	known, _ := s.head.get()
	entries, packed, head, err := s.readLog(c.ctx, c.pos, s.cfg.LogBatch, max(known, c.pos+1))
	if errors.Is(err, store.ErrCompacted) {
		c.resync = &resync{at: -1}
		return c.pumpSnapshot()
	}
	if err != nil {
		return err
	}
	if n := entriesWithin(entries, s.cfg.MaxSendBytes); n < len(entries) {
		entries = entries[:n]
		if packed != nil {
			packed = packed[:n]
		}
	}
	msg := wire.Changes{Upto: head, Head: head}
	if len(entries) > 0 {
		msg.Upto = entries[len(entries)-1].Pos
	}
	msg.Entries, msg.Evict, err = c.filterEntries(entries, packed)
	if err != nil {
		return err
	}
	if len(msg.Entries) == 0 && len(msg.Evict) == 0 && c.toldUpto >= c.toldHead && c.srv.cfg.QuietCursorDelay > 0 && !ownAmong(entries, c.client) {
		// Nothing here the client may read, and it was caught up: it
		// still is, as far as it can tell. Its own changes still get
		// their message (its cursor moves past what it pushed).
		c.pos = msg.Upto
		s.metrics.unsentPulls.Inc()
		if c.tell == nil {
			c.owedSince = s.cfg.Now()
			c.tell = time.NewTimer(s.cfg.QuietCursorDelay)
			return nil
		}
		if s.cfg.Now().Sub(c.owedSince) >= s.cfg.QuietCursorDelay {
			// The log keeps moving with writes the client may not read:
			// its cursor is still told (left far behind, it would cost a
			// snapshot once the log is compacted).
			return c.tellCursor()
		}
		return nil
	}
	if err := c.send(msg); err != nil {
		return err
	}
	c.pulled(msg)
	c.pos = msg.Upto
	return nil
}

func ownAmong(entries []store.Entry, client string) bool {
	for i := range entries {
		if entries[i].Client == client {
			return true
		}
	}
	return false
}

// tellDue fires when the client has been owed its cursor (pump) for
// QuietCursorDelay; nil when it is owed nothing.
func (c *session) tellDue() <-chan time.Time {
	if c.tell == nil {
		return nil
	}
	return c.tell.C
}

// tellCursor sends the client the cursor it is owed: a message with no
// entries, whose head is that cursor (the entries past it, if any, come
// in their own messages with the log's head).
func (c *session) tellCursor() error {
	msg := wire.Changes{Upto: c.pos, Head: c.pos}
	if err := c.send(msg); err != nil {
		return err
	}
	c.pulled(msg)
	return nil
}

func (c *session) stopTell() {
	if c.tell != nil {
		c.tell.Stop()
	}
	c.tell = nil
}

// resync is a snapshot streamed as log messages: where it started and
// the last row sent.
type resync struct {
	at   int64
	next merge.Cursor
}

// pumpSnapshot sends the next page of the current state to a client
// whose cursor is older than the compacted log. The rows go as changes
// (merged like any, so reading them while writes go on is safe); Upto
// stays at the client's cursor until the last page, which moves it to
// the position the snapshot started at, from where the log goes on. Any
// client handles this, old ones included: to them it is log traffic.
//
// A scoped client gets its scopes' rows; rows that left its scopes while
// it was away (their moves compacted) are not evicted.
func (c *session) pumpSnapshot() error {
	s := c.srv
	r := c.resync
	chunk, err := s.store.Snapshot(c.ctx, r.at, r.next, s.cfg.LogBatch, c.access.view())
	if err != nil {
		return err
	}
	trimChunk(&chunk, s.cfg.MaxSendBytes)
	r.at, r.next = chunk.At, chunk.Next
	head, _ := s.head.get()
	msg := wire.Changes{Upto: c.pos, Head: max(head, chunk.At)}
	for _, ch := range c.chunkChanges(chunk.Changes, false) {
		msg.Entries = append(msg.Entries, wire.Entry{Pos: chunk.At, Change: ch})
	}
	if chunk.Done {
		msg.Upto = max(chunk.At, c.pos)
		c.resync = nil
	}
	if err := c.send(msg); err != nil {
		return err
	}
	c.pulled(msg)
	c.pos = msg.Upto
	return nil
}
