package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// A DNS-rebinding page reaches a local server under the attacker's name:
// refused. Loopback names, IP literals and the listed public hosts pass.
func TestHostGuard(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	g := newHostGuard([]string{"sync.example.com", "Notes.Example.org:443"}, ok)
	for host, want := range map[string]int{
		"127.0.0.1:8080":         http.StatusNoContent,
		"[::1]:8080":             http.StatusNoContent,
		"localhost:8080":         http.StatusNoContent,
		"app.localhost":          http.StatusNoContent,
		"192.168.1.20:8080":      http.StatusNoContent,
		"sync.example.com":       http.StatusNoContent,
		"SYNC.example.com.:8443": http.StatusNoContent,
		"notes.example.org":      http.StatusNoContent,
		"evil.example:8080":      http.StatusMisdirectedRequest,
		"sync.example.com.evil":  http.StatusMisdirectedRequest,
		"localhost.evil.example": http.StatusMisdirectedRequest,
		"":                       http.StatusMisdirectedRequest,
	} {
		req := httptest.NewRequest("GET", "/sync", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		g.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Host %q: %d, want %d", host, rec.Code, want)
		}
	}
}
