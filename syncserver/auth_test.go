package syncserver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/auth"
	"github.com/hearthdb/hearth/syncworker/syncstatus"
	"github.com/hearthdb/hearth/syncworker/wire"
)

var testSecret = []byte("hearth-test-secret-0123456789abcdef")

func authServer(t *testing.T) (*harness, *auth.Issuer) {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{Secret: testSecret, Audience: "hearth-sync", Issuer: "hearth-test"})
	if err != nil {
		t.Fatal(err)
	}
	// Scopes reach the hooks: a token without ws-main may not write.
	authorize := func(ctx context.Context, principal string, ch syncserver.Change) error {
		id, ok := syncserver.IdentityFrom(ctx)
		if !ok || id.Principal != principal {
			return fmt.Errorf("no identity for %q", principal)
		}
		if !slices.Contains(id.Scopes, "ws-main") {
			return errors.New("the token does not grant ws-main")
		}
		return nil
	}
	h := fileServer(t, syncserver.Config{Identify: v.Identify, Authorize: authorize})
	return h, &auth.Issuer{Secret: testSecret, Audience: "hearth-sync", Issuer: "hearth-test"}
}

// TestBadTokensAreRefusedAndCounted: every bad token is refused with 401
// before the upgrade, and counted.
func TestBadTokensAreRefusedAndCounted(t *testing.T) {
	h, is := authServer(t)
	now := time.Now()
	forged := &auth.Issuer{Secret: []byte(strings.Repeat("k", 40)), Audience: "hearth-sync", Issuer: "hearth-test"}
	wrongAud := &auth.Issuer{Secret: testSecret, Audience: "another-app", Issuer: "hearth-test"}
	expired := &auth.Issuer{Secret: testSecret, Audience: "hearth-sync", Issuer: "hearth-test", Now: func() time.Time { return now.Add(-time.Hour) }}
	early := &auth.Issuer{Secret: testSecret, Audience: "hearth-sync", Issuer: "hearth-test", Now: func() time.Time { return now.Add(time.Hour) }}
	tok := func(is *auth.Issuer) string {
		s, err := is.Issue("ann", []string{"ws-main"}, 10*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	cases := []struct{ name, token string }{
		{"missing", ""},
		{"bad signature", tok(forged)},
		{"wrong audience", tok(wrongAud)},
		{"expired", tok(expired)},
		{"not yet valid", tok(early)},
	}
	httpURL := "http" + strings.TrimPrefix(h.url, "ws")
	for _, c := range cases {
		req, _ := http.NewRequest("GET", httpURL+"?token="+url.QueryEscape(c.token), nil)
		req.Header.Set("Upgrade", "websocket")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: HTTP %d, want 401", c.name, resp.StatusCode)
		}
		// The same answer whatever failed: which check (signature,
		// audience, time) is the server's log's to say, not the caller's.
		if got := strings.TrimSpace(string(body)); got != "UNAUTHORIZED: the credential is missing, invalid or expired" {
			t.Errorf("%s: body %q tells the caller why", c.name, got)
		}
	}
	m := scrape(t, h.srv.Load().MetricsHandler())
	if got := m[`hearth_sync_errors_total{code="UNAUTHORIZED",kind="upgrade"}`]; got != float64(len(cases)) {
		t.Fatalf("counted %v refusals, want %d", got, len(cases))
	}
	// A good token in the Authorization header works too (non-browser
	// clients).
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, h.url, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok(is)}}})
	if err != nil {
		t.Fatal(err)
	}
	r := &raw{t: t, ws: ws}
	t.Cleanup(func() { ws.CloseNow() })
	r.send(wire.Hello{Client: "raw-client", Cursor: -1}, 1)
	if _, ok := r.recv().(wire.Welcome); !ok {
		t.Fatal("want welcome with a header token")
	}

	// A client with a refused token pauses with UNAUTHORIZED instead of
	// retrying, and resumes when told the token changed.
	var current atomic.Value
	current.Store("garbage")
	cfg := fastConfig(h.url)
	cfg.Token = func(context.Context) (string, error) { return current.Load().(string), nil }
	e := newDevice(t, "e", h, nil, cfg)
	e.mustExec(`INSERT INTO tasks(id, title) VALUES ('e1', 'while refused')`)
	e.start()
	waitFor(t, "e to pause on its refused token", func() bool {
		st := e.status()
		return st.State == syncstatus.StatePausedAuth && st.LastError != nil && st.LastError.Code == wire.CodeUnauthorized
	})
	if st := e.status(); strings.Contains(st.LastError.Message, "garbage") {
		t.Fatalf("the token leaks into the status: %s", st.LastError.Message)
	}
	dials := e.net.dials.Load()
	time.Sleep(300 * time.Millisecond) // several MaxBackoffs
	if e.net.dials.Load() != dials {
		t.Fatal("a paused client must not redial with the same token")
	}
	current.Store(tok(is))
	e.client.TokenChanged()
	e.synced(h)
	if rows := h.serverQuery(`SELECT title FROM tasks WHERE id = 'e1'`); len(rows) != 1 {
		t.Fatal("the change written while paused did not sync")
	}
}

// TestTokenExpiryMidSessionPausesThenResumes: the server ends the
// session when the token expires (AUTH_EXPIRED); the client pauses,
// keeps journaling, and resumes with a refreshed token, losing nothing.
func TestTokenExpiryMidSessionPausesThenResumes(t *testing.T) {
	h, is := authServer(t)
	var mu sync.Mutex
	var calls int
	ttl := 2 * time.Second // exp has whole-second precision: expires in 1 to 2 s
	token := func(context.Context) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		// The same user, a fresh token each time: a replica's id is
		// bound to its principal, which a refresh keeps.
		return is.Issue("ann", []string{"ws-main"}, ttl)
	}
	cfg := fastConfig(h.url)
	cfg.Token = token
	d := newDevice(t, "d", h, nil, cfg).start()
	other := newDevice(t, "other", h, nil, cfg).start()
	d.mustExec(`INSERT INTO tasks(id, title) VALUES ('before', 'x')`)
	d.synced(h)
	waitFor(t, "the token to expire mid-session", func() bool {
		st := d.status()
		return st.State == syncstatus.StatePausedAuth && st.LastError != nil && st.LastError.Code == wire.CodeAuthExpired
	})
	// Offline-style writes while paused stay in the journal.
	for i := range 5 {
		d.mustExec(`INSERT INTO tasks(id, title) VALUES (?, 'while paused')`, fmt.Sprintf("p%d", i))
	}
	waitFor(t, "the pending count", func() bool { return d.status().Pending == 5 })
	if st := d.status(); st.State != syncstatus.StatePausedAuth || st.Connected {
		t.Fatalf("want paused-auth, got %+v", st)
	}
	mu.Lock()
	ttl = time.Hour
	mu.Unlock()
	d.client.TokenChanged()
	other.client.TokenChanged()
	d.synced(h)
	other.synced(h)
	waitFor(t, "the other device to get the changes made while paused", func() bool {
		return len(other.query(`SELECT 1 FROM tasks WHERE title = 'while paused'`)) == 5
	})
	if n := h.serverQuery(`SELECT count(*) FROM _hearth_log`)[0][0]; n != int64(6) {
		t.Fatalf("the log holds %v entries, want 6", n)
	}
	// d's expiry was waited for; the other device's token (issued a
	// moment later) may not have expired by now.
	m := scrape(t, h.srv.Load().MetricsHandler())
	if m[`hearth_sync_errors_total{code="AUTH_EXPIRED",kind="session"}`] < 1 {
		t.Fatalf("expiries not counted: %v", m[`hearth_sync_errors_total{code="AUTH_EXPIRED",kind="session"}`])
	}
}

// TestScopesReachAuthorize: a change from a token without the scope is
// refused (FORBIDDEN) and rolled back on the device.
func TestScopesReachAuthorize(t *testing.T) {
	h, is := authServer(t)
	cfg := fastConfig(h.url)
	cfg.Token = func(context.Context) (string, error) { return is.Issue("bob", []string{"ws-other"}, time.Hour) }
	d := newDevice(t, "d", h, nil, cfg).start()
	d.mustExec(`INSERT INTO tasks(id, title) VALUES ('x', 'not mine')`)
	waitFor(t, "the refusal", func() bool { return d.status().Refused == 1 })
	if rows := d.query(`SELECT 1 FROM tasks`); len(rows) != 0 {
		t.Fatal("the refused insert was not rolled back")
	}
}
