package syncserver_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hearthdb/hearth/internal/pgtest"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncworker/client"
	"github.com/ncruces/go-sqlite3"
)

// externalInserts is how many inserts BenchmarkExternalWriteToClient
// times per iteration.
const externalInserts = 300

// BenchmarkExternalWriteToClient times an INSERT that another program
// (as psql would) commits on its own connection, until an online client
// has applied it to its replica: capture, NOTIFY, ingestion, fan-out and
// the client's apply, on loopback. make bench-pg prints it beside
// Electric's published write-to-client figure.
func BenchmarkExternalWriteToClient(b *testing.B) {
	db := &backend{name: "postgres", url: pgtest.URL(b)}
	h := db.server(b, syncserver.Config{})
	applied := make(chan struct{}, 1)
	d := newDevice(b, "d", h, nil, client.Config{Applied: func(*sqlite3.Conn, []string) {
		select {
		case applied <- struct{}{}:
		default:
		}
	}}).start()
	d.synced(h)
	x := connectExternal(b, db.url)
	var lat []time.Duration
	b.ResetTimer()
	for n := range b.N {
		for i := range externalInserts {
			id := fmt.Sprint("ext-", n, "-", i)
			select {
			case <-applied:
			default:
			}
			start := time.Now()
			x.exec(`INSERT INTO tasks(id, title) VALUES ($1, 'from psql')`, id)
			for len(d.query(`SELECT 1 FROM tasks WHERE id = ?`, id)) == 0 {
				select {
				case <-applied:
				case <-time.After(10 * time.Second):
					b.Fatalf("insert %s did not reach the client", id)
				}
			}
			lat = append(lat, time.Since(start))
		}
	}
	b.StopTimer()
	p50, p95 := percentile(lat, 50), percentile(lat, 95)
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
	fmt.Printf("external write→client (PostgreSQL INSERT on its own connection → online client applied it, loopback, %d inserts): p50 %.1f ms, p95 %.1f ms; Electric write→client 6 ms (published)\n",
		len(lat), float64(p50.Microseconds())/1000, float64(p95.Microseconds())/1000)
}
