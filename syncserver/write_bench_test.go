package syncserver_test

import (
	"fmt"
	"net/http"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/ncruces/go-sqlite3"
)

// electricWriteToClientMs is the anchor's published figure: a Postgres
// write reaching an Electric client.
const electricWriteToClientMs = 6.0

// backendWriteRuns is how many timed writes a run measures (after
// backendWriteWarmup untimed ones).
const (
	backendWriteRuns   = 500
	backendWriteWarmup = 20
)

// BenchmarkBackendWriteToClient measures a backend write, POST /v1/write
// on loopback to one server on a SQLite file store, until an online Go
// client has committed the row, and prints p50 and p95 beside Electric's
// published write→client latency (make bench-write). Each iteration is
// a whole run of backendWriteRuns writes.
func BenchmarkBackendWriteToClient(b *testing.B) {
	for range b.N {
		h := newHarness(b, syncserver.Config{Path: b.TempDir() + "/sync.db", PushRate: -1})
		api := newWriteAPI(b, h)
		applied := make(chan int64, 1)
		dev := newDevice(b, "reader", h, nil, client.Config{Applied: func(conn *sqlite3.Conn, tables []string) {
			n := queryConn(conn, `SELECT count(*) FROM tasks`)[0][0].(int64)
			select {
			case <-applied: // keep only the newest count
			default:
			}
			applied <- n
		}}).start()
		dev.synced(h)
		var latencies []time.Duration
		for i := range backendWriteWarmup + backendWriteRuns {
			body := fmt.Sprintf(`{"changes":[{"table":"tasks","op":"upsert","values":{"id":"w%d","title":"backend %d","done":1}}]}`, i, i)
			posted := make(chan writeReply, 1)
			start := time.Now()
			go func() { posted <- api.do(http.MethodPost, tokenA, fmt.Sprint("bench-", i), body) }()
			deadline := time.After(10 * time.Second)
			for seen := false; !seen; {
				select {
				case n := <-applied:
					seen = n == int64(i+1)
				case <-deadline:
					b.Fatalf("write %d did not reach the client", i)
				}
			}
			elapsed := time.Since(start)
			if r := <-posted; r.status != http.StatusOK || r.statuses() != "applied" {
				b.Fatalf("write %d: %d %s %s", i, r.status, r.Code, r.Message)
			}
			if i >= backendWriteWarmup {
				latencies = append(latencies, elapsed)
			}
		}
		sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		pct := func(p float64) float64 { return ms(latencies[int(p*float64(len(latencies)-1))]) }
		p50, p95 := pct(0.50), pct(0.95)
		b.ReportMetric(p50, "p50-ms")
		b.ReportMetric(p95, "p95-ms")
		if os.Getenv("HEARTH_BENCH_REPORT") != "" {
			met := func(ok bool) string {
				if ok {
					return "met"
				}
				return "not met"
			}
			fmt.Printf("\nBackend write bench: %d writes, POST /v1/write on loopback → an online Go client, one server, SQLite file store\n", len(latencies))
			fmt.Printf("  write→client: p50 %.1f ms, p95 %.1f ms (min %.1f ms, max %.1f ms)\n", p50, p95, ms(latencies[0]), ms(latencies[len(latencies)-1]))
			fmt.Printf("    vs Electric write→client %.0f ms (published): %.2fx; goal p50 <= 5 ms: %s, p95 <= 20 ms: %s\n",
				electricWriteToClientMs, p50/electricWriteToClientMs, met(p50 <= 5), met(p95 <= 20))
		}
		dev.stop()
	}
}
