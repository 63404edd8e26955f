package replica

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkFirstBuild: a device's first replica of 5,000 notes when the
// server keeps no file for its reads (a new user, a restarted server). A
// first visit waits for it (the board's first visit waited 200–450 ms on
// the 2-core machine, 2026-12-07, with the browser compiling beside it).
func BenchmarkFirstBuild(b *testing.B) {
	for range b.N {
		b.StopTimer()
		h, url := server(b, 5000, Config{})
		b.StartTimer()
		resp, err := http.Get(url + query(h.Fingerprint(), 4096, 2))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}
