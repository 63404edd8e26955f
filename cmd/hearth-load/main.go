// Command hearth-load measures the sync server under many live clients,
// on this machine only.
//
// It starts the server as a child process (itself with -serve) on a
// loopback port, on a fresh SQLite store, so the server's heap can be
// measured apart from the clients'. Then it connects N WebSocket clients
// that speak the sync protocol (hello, sub, push), each pushing one
// change per second (-rate) and receiving every other client's changes as
// fan-out, for -duration. It prints the sustained changes per second, the
// p50/p99 latency from push to ack and from push to fan-out (a change
// carries the time it was sent; the clients share this process's clock),
// and the server heap per connection.
//
//	go run ./cmd/hearth-load -clients 1000 -duration 20s
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/hearthdb/hearth/internal/pgtest"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/pgstore"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/wire"
)

// The load's app: one table, each change a new row stamped with the time
// it was pushed.
var (
	migrations = []appschema.Migration{{Version: 1, SQL: `CREATE TABLE items(id TEXT PRIMARY KEY, body TEXT, sent INTEGER)`}}
	tables     = []appschema.Table{{Name: "items"}}
)

const schemaVersion = 1

func main() {
	var (
		serve     = flag.Bool("serve", false, "run the server (the child process)")
		db        = flag.String("db", "", "store: a SQLite file, a postgres:// URL, or \"postgres\" for a private PostgreSQL server started for the run (default: a fresh SQLite file in a temporary directory)")
		instances = flag.Int("instances", 1, "server processes sharing the store (more than one needs PostgreSQL); clients are spread over them")
		clients   = flag.Int("clients", 1000, "concurrent WebSocket clients")
		duration  = flag.Duration("duration", 20*time.Second, "how long the clients push (at most 10 minutes)")
		rate      = flag.Float64("rate", 1, "changes per second each client pushes")
		observers = flag.Int("observers", 100, "clients that time the fan-out of every change they receive (the rest only decode)")
		profile   = flag.String("cpuprofile", "", "write the server's CPU profile to this file")
	)
	flag.Parse()
	if *serve {
		if err := runServer(*db, *profile); err != nil {
			log.Fatal(err)
		}
		return
	}
	if *duration <= 0 || *duration > 10*time.Minute || *clients <= 0 || *rate <= 0 {
		log.Fatal("hearth-load: -duration must be in (0, 10m], -clients and -rate positive")
	}
	if *instances < 1 || *instances > 8 {
		log.Fatal("hearth-load: -instances must be 1 to 8")
	}
	if err := drive(*db, *instances, *clients, *duration, *rate, min(*observers, *clients), *profile); err != nil {
		log.Fatal(err)
	}
}

// runServer serves sync at /sync and the server's heap at /heap on a
// loopback port, printed on stdout, until stdin closes (the driver
// exited or killed us).
func runServer(path, profile string) error {
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	// The limits stay at their defaults: one change per second per client
	// is far below them.
	cfg := syncserver.Config{Path: path, Migrations: migrations, Tables: tables}
	if strings.HasPrefix(path, "postgres://") || strings.HasPrefix(path, "postgresql://") {
		st, err := pgstore.Open(context.Background(), path)
		if err != nil {
			return err
		}
		cfg = syncserver.Config{Store: st, Migrations: migrations, Tables: tables}
	}
	srv, err := syncserver.New(cfg)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/sync", srv.Handler())
	mux.Handle("/metrics", srv.MetricsHandler())
	mux.HandleFunc("/heap", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Fprintf(w, "%d %d", ms.HeapAlloc, runtime.NumGoroutine())
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux}
	go hs.Serve(ln)
	fmt.Println("listening", ln.Addr().String())
	// The driver holds our stdin; when it goes, so do we.
	bufio.NewReader(os.Stdin).ReadString('\n')
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	return hs.Shutdown(ctx)
}

// stats collects the clients' measurements.
type stats struct {
	mu      sync.Mutex
	ack     []time.Duration
	fanout  []time.Duration
	acked   atomic.Int64
	pushed  atomic.Int64
	fanned  atomic.Int64 // entries the observers received
	batches atomic.Int64 // log batches all clients received
	failed  atomic.Int64
	lastErr atomic.Value
}

func drive(db string, instances, n int, duration time.Duration, rate float64, observers int, profile string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	switch {
	case db == "postgres":
		pg, err := pgtest.Start()
		if err != nil {
			return fmt.Errorf("start a private PostgreSQL: %w", err)
		}
		defer pg.Stop()
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		db, err = pg.CreateDatabase(cctx)
		cancel()
		if err != nil {
			return err
		}
	case db == "":
		dir, err := os.MkdirTemp("", "hearth-load-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		db = filepath.Join(dir, "sync.db")
	}
	kind := "SQLite " + db
	if strings.HasPrefix(db, "postgres") {
		kind = "PostgreSQL"
	} else if instances > 1 {
		return errors.New("hearth-load: several instances share a store only on PostgreSQL")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var addrs, bases []string
	for i := range instances {
		// Only the first instance is profiled: one profile file.
		prof := profile
		if i > 0 {
			prof = ""
		}
		addr, stopChild, err := startChild(self, db, prof)
		if err != nil {
			return err
		}
		defer stopChild()
		addrs = append(addrs, addr)
		bases = append(bases, "http://"+addr)
	}
	heap0, err := totalHeap(bases)
	if err != nil {
		return err
	}
	fmt.Printf("%d server instance(s) on %s (%s); connecting %d clients\n", instances, strings.Join(addrs, ", "), kind, n)

	st := &stats{}
	runID := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)
	conns := make([]*loadClient, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64) // dial in parallel, without a SYN storm
	connectStart := time.Now()
	var dialErr atomic.Value
	for i := range conns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := connect(ctx, "ws://"+addrs[i%len(addrs)]+"/sync", fmt.Sprintf("load-%s-%d", runID, i), i < observers, st)
			if err != nil {
				dialErr.Store(err)
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	if err, _ := dialErr.Load().(error); err != nil {
		for _, c := range conns {
			if c != nil {
				c.ws.CloseNow()
			}
		}
		return fmt.Errorf("connect: %w", err)
	}
	heap1, err := totalHeap(bases)
	if err != nil {
		return err
	}
	fmt.Printf("%d clients connected in %v; server heap %.1f MiB → %.1f MiB\n",
		n, time.Since(connectStart).Round(time.Millisecond), mib(heap0), mib(heap1))

	runCtx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	interval := time.Duration(float64(time.Second) / rate)
	started := time.Now()
	for _, c := range conns {
		wg.Add(2)
		go func() { defer wg.Done(); c.readLoop(runCtx) }()
		go func() { defer wg.Done(); c.pushLoop(runCtx, interval) }()
	}
	<-runCtx.Done()
	elapsed := time.Since(started)
	for _, c := range conns {
		c.ws.CloseNow()
	}
	wg.Wait()
	heap2, _ := totalHeap(bases)

	st.mu.Lock()
	defer st.mu.Unlock()
	fmt.Printf("\n%d clients × %.3g change/s for %v (loopback, %s store, %d server process(es) and one client process, %d cores)\n",
		n, rate, elapsed.Round(time.Millisecond), kind, instances, runtime.NumCPU())
	fmt.Printf("pushed %d, acknowledged %d: %.0f changes/s sustained (offered %.0f/s)\n",
		st.pushed.Load(), st.acked.Load(), float64(st.acked.Load())/elapsed.Seconds(), float64(n)*rate)
	perObserver := float64(st.fanned.Load()) / float64(observers)
	fmt.Printf("fan-out: %.0f entries/s to each client (%.0f/s to all, of %.0f/s offered), in %d batches\n",
		perObserver/elapsed.Seconds(), perObserver*float64(n)/elapsed.Seconds(), float64(n)*rate*float64(n-1), st.batches.Load())
	fmt.Printf("push → ack:      p50 %v  p99 %v  (%d samples)\n", pct(st.ack, 50), pct(st.ack, 99), len(st.ack))
	fmt.Printf("push → fan-out:  p50 %v  p99 %v  (%d samples, %d observing clients)\n", pct(st.fanout, 50), pct(st.fanout, 99), len(st.fanout), observers)
	fmt.Printf("server heap per connection: %.1f KiB ((%.1f − %.1f MiB) / %d, idle after connect); %.1f MiB after the run\n",
		float64(heap1-heap0)/float64(n)/1024, mib(heap1), mib(heap0), n, mib(heap2))
	if f := st.failed.Load(); f > 0 {
		fmt.Printf("client failures: %d (last: %v)\n", f, st.lastErr.Load())
	}
	return nil
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return d[min(len(d)-1, len(d)*p/100)].Round(10 * time.Microsecond)
}

// startChild starts one server process on the store and returns its
// address and a function that stops it.
func startChild(self, db, profile string) (string, func(), error) {
	child := exec.Command(self, "-serve", "-db", db, "-cpuprofile", profile)
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		return "", nil, err
	}
	out, err := child.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := child.Start(); err != nil {
		return "", nil, err
	}
	stopChild := func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { child.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			child.Process.Kill()
		}
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stopChild()
		return "", nil, fmt.Errorf("server did not start: %w", err)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "listening")), stopChild, nil
}

// totalHeap sums the instances' live heaps.
func totalHeap(bases []string) (uint64, error) {
	var total uint64
	for _, b := range bases {
		h, _, err := serverHeap(b)
		if err != nil {
			return 0, err
		}
		total += h
	}
	return total, nil
}

func serverHeap(base string) (heap uint64, goroutines int, err error) {
	resp, err := http.Get(base + "/heap")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	_, err = fmt.Fscan(resp.Body, &heap, &goroutines)
	return heap, goroutines, err
}

// loadClient is one protocol-speaking connection (no local database:
// the point is the server's load, not the client's).
type loadClient struct {
	ws      *websocket.Conn
	id      string
	observe bool
	st      *stats
	writeMu sync.Mutex
	mu      sync.Mutex
	sent    map[int64]time.Time // seq → push time, until acked
	seq     int64
	pushID  int64
}

func connect(ctx context.Context, url, id string, observe bool, st *stats) (*loadClient, error) {
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(dctx, url, &websocket.DialOptions{Subprotocols: []string{wire.Subprotocol}})
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(64 << 20)
	c := &loadClient{ws: ws, id: id, observe: observe, st: st, sent: map[int64]time.Time{}}
	if err := c.send(dctx, wire.Hello{Client: id, Cursor: -1}); err != nil {
		return nil, err
	}
	_, b, err := ws.Read(dctx)
	if err != nil {
		return nil, err
	}
	f, err := wire.Decode(b)
	if err != nil {
		return nil, err
	}
	w, ok := f.Msg.(wire.Welcome)
	if !ok {
		return nil, fmt.Errorf("want welcome, got %#v", f.Msg)
	}
	// Live changes only: the load measures fan-out, not catch-up.
	if err := c.send(dctx, wire.Subscribe{After: w.Head}); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *loadClient) send(ctx context.Context, m wire.Message) error {
	b, err := wire.Encode(m, schemaVersion)
	if err != nil {
		return err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.ws.Write(ctx, websocket.MessageBinary, b)
}

func (c *loadClient) fail(ctx context.Context, err error) {
	if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
		return
	}
	c.st.failed.Add(1)
	c.st.lastErr.Store(err.Error())
}

// pushLoop pushes one change per interval, starting at a random phase
// so the clients spread over the interval.
func (c *loadClient) pushLoop(ctx context.Context, interval time.Duration) {
	timer := time.NewTimer(time.Duration(rand.Int64N(int64(interval))))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		timer.Reset(interval)
		now := time.Now()
		c.mu.Lock()
		c.seq++
		c.pushID++
		seq, pushID := c.seq, c.pushID
		c.sent[seq] = now
		c.mu.Unlock()
		key, _ := change.EncodeKey(fmt.Sprintf("%s-%d", c.id, seq))
		ch := change.Change{Table: "items", Key: key, Op: change.Insert,
			Values: map[string]any{"body": "load", "sent": now.UnixNano()},
			Stamp:  hlc.Stamp{TS: hlc.Make(now.UnixMilli(), uint16(seq)), Node: c.id}, Schema: schemaVersion}
		if err := c.send(ctx, wire.Push{ID: pushID, Changes: []wire.Pushed{{Seq: seq, Change: ch}}}); err != nil {
			c.fail(ctx, err)
			return
		}
		c.st.pushed.Add(1)
	}
}

// readLoop takes acks and fan-out.
func (c *loadClient) readLoop(ctx context.Context) {
	var acks, fanout []time.Duration
	defer func() {
		c.st.mu.Lock()
		c.st.ack = append(c.st.ack, acks...)
		c.st.fanout = append(c.st.fanout, fanout...)
		c.st.mu.Unlock()
	}()
	for {
		_, b, err := c.ws.Read(ctx)
		if err != nil {
			c.fail(ctx, err)
			return
		}
		if !c.observe && isChanges(b) {
			// Decoding every fan-out batch in every client would spend
			// the machine's cores on the load generator, not the server:
			// only observers decode them.
			c.st.batches.Add(1)
			continue
		}
		f, err := wire.Decode(b)
		if err != nil {
			c.fail(ctx, err)
			return
		}
		now := time.Now()
		switch m := f.Msg.(type) {
		case wire.Ack:
			c.mu.Lock()
			for _, r := range m.Results {
				if at, ok := c.sent[r.Seq]; ok {
					acks = append(acks, now.Sub(at))
					delete(c.sent, r.Seq)
					c.st.acked.Add(1)
				}
			}
			c.mu.Unlock()
		case wire.Changes:
			c.st.batches.Add(1)
			c.st.fanned.Add(int64(len(m.Entries)))
			for _, e := range m.Entries {
				if sent, ok := e.Values["sent"].(int64); ok {
					fanout = append(fanout, now.Sub(time.Unix(0, sent)))
				}
			}
		case *wire.Error:
			c.fail(ctx, m)
		}
	}
}

// isChanges tells a fan-out batch from the few other messages without
// decoding it: the message type is the text in the envelope's first
// bytes (v, t, s come first).
func isChanges(b []byte) bool {
	return bytes.Contains(b[:min(len(b), 48)], []byte("changes"))
}
