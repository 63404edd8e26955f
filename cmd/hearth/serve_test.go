package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	boardschema "github.com/hearthdb/hearth/examples/board/schema"
	"github.com/hearthdb/hearth/internal/pgtest"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/seed"
	"github.com/ncruces/go-sqlite3"
)

func TestMain(m *testing.M) {
	code := m.Run()
	pgtest.StopShared()
	os.Exit(code)
}

// startServe runs `hearth serve` in-process and returns its base URL.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, w := io.Pipe()
	done := make(chan error, 1)
	go func() {
		// In memory unless a test says otherwise: the demo board's
		// default store is a file in the user's cache directory.
		base := []string{"-addr", "127.0.0.1:0", "-web", t.TempDir()}
		if !slices.Contains(args, "-config") {
			base = append(base, "-store", "")
		}
		done <- serve(ctx, append(base, args...), w)
		w.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("hearth serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("hearth serve did not stop")
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if m := regexp.MustCompile(`http://127\.0\.0\.1:\d+/`).FindString(sc.Text()); m != "" {
				found <- m
			}
		}
	}()
	select {
	case u := <-found:
		return u
	case err := <-done:
		t.Fatalf("hearth serve exited: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("hearth serve printed no URL")
	}
	return ""
}

// device is a native replica of the board synced with one server.
type device struct {
	local *client.LockedLocal
}

func newDevice(t *testing.T, base string) *device {
	return newAppDevice(t, "ws"+strings.TrimPrefix(base, "http")+"sync", boardschema.Migrations, boardschema.Tables)
}

// newAppDevice is a native replica of any app, syncing with url.
func newAppDevice(t *testing.T, url string, migrations []appschema.Migration, tables []appschema.Table) *device {
	t.Helper()
	conn, err := sqlite3.Open(fmt.Sprintf("file:/serve-test-%d?vfs=memdb", time.Now().UnixNano()))
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.Prepare(conn, journal.Config{Clock: hlc.NewClock(nil), Tables: tables})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations {
		if err := conn.Exec(fmt.Sprintf("%s; PRAGMA user_version = %d", m.SQL, m.Version)); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Install(conn); err != nil {
		t.Fatal(err)
	}
	d := &device{local: client.NewLockedLocal(conn)}
	c, err := client.New(client.Config{URL: url, Local: d.local, Journal: j})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { c.Run(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped; conn.Close() })
	return d
}

func (d *device) title(t *testing.T, id string) string {
	return d.text(t, `SELECT title FROM tasks WHERE id = ?`, id)
}

// text is the first column of the first row of a query ("" for none).
func (d *device) text(t *testing.T, sql string, args ...string) string {
	var out string
	err := d.local.Do(context.Background(), func(conn *sqlite3.Conn) error {
		s, _, err := conn.Prepare(sql)
		if err != nil {
			return err
		}
		defer s.Close()
		for i, a := range args {
			s.BindText(i+1, a)
		}
		if s.Step() {
			out = s.ColumnText(0)
		}
		return s.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTwoInstancesOnOnePostgres: two `hearth serve` processes' worth of
// servers on one PostgreSQL database: the first seeds, the second finds
// the data; a change pushed through instance 1 reaches a device connected
// to instance 2 live; both expose /metrics and /healthz.
func TestTwoInstancesOnOnePostgres(t *testing.T) {
	store := pgtest.URL(t)
	one := startServe(t, "-store", store, "-seed-tasks", "40")
	two := startServe(t, "-store", store, "-seed-tasks", "40")

	watcher := newDevice(t, two)
	deadline := time.Now().Add(30 * time.Second)
	for watcher.title(t, "t-00001") == "" {
		if time.Now().After(deadline) {
			t.Fatal("the device on instance 2 never received the seed written through instance 1")
		}
		time.Sleep(20 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := seed.Write(ctx, "ws"+strings.TrimPrefix(one, "http")+"sync", boardschema.Migrations, boardschema.Tables, func(conn *sqlite3.Conn) error {
		return conn.Exec(`INSERT INTO tasks(id, title) VALUES ('cross', 'pushed to instance 1')`)
	}); err != nil {
		t.Fatal(err)
	}
	for watcher.title(t, "cross") != "pushed to instance 1" {
		if time.Now().After(deadline) {
			t.Fatal("a change pushed to instance 1 did not reach the device on instance 2")
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, base := range []string{one, two} {
		metrics := get(t, base+"metrics")
		for _, want := range []string{"hearth_sync_connections_total", "hearth_sync_connected_clients"} {
			if !strings.Contains(metrics, want) {
				t.Errorf("%smetrics lacks %s", base, want)
			}
		}
		if h := get(t, base+"healthz"); !strings.Contains(h, `"ok"`) {
			t.Errorf("%shealthz: %s", base, h)
		}
	}
	if !regexp.MustCompile(`(?m)^hearth_sync_pushes_total\S* [1-9]`).MatchString(get(t, one+"metrics")) {
		t.Errorf("instance 1 counted no pushes:\n%s", grep(get(t, one+"metrics"), "hearth_sync_push"))
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s\n%s", url, resp.Status, b)
	}
	return string(b)
}

func grep(text, substr string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// With -metrics-addr, /metrics and /healthz are served there only, not
// beside /sync where every client reaches them.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opsAddr := l.Addr().String()
	l.Close()
	base := startServe(t, "-seed-tasks", "0", "-metrics-addr", opsAddr)
	for _, c := range []struct {
		url  string
		want int
	}{
		{base + "metrics", http.StatusNotFound},
		{base + "healthz", http.StatusNotFound},
		{"http://" + opsAddr + "/metrics", http.StatusOK},
		{"http://" + opsAddr + "/healthz", http.StatusOK},
	} {
		resp, err := http.Get(c.url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("GET %s: %d, want %d", c.url, resp.StatusCode, c.want)
		}
	}
}
