package main

import (
	"net"
	"net/http"
	"strings"
)

// hostGuard refuses requests whose Host header names a host this server
// was not told it serves. DNS rebinding works by pointing a name the
// attacker controls (evil.example) at 127.0.0.1: the victim's browser then
// sends Host: evil.example to the local server, and a same-origin check
// (Origin against Host) passes. An IP literal cannot be rebound, nor can
// localhost, so those always pass; any other name must be listed
// (-public-host, or public_hosts in the config).
type hostGuard struct {
	allowed map[string]bool
	next    http.Handler
}

func newHostGuard(publicHosts []string, next http.Handler) *hostGuard {
	g := &hostGuard{allowed: map[string]bool{}, next: next}
	for _, h := range publicHosts {
		g.allowed[strings.ToLower(strings.TrimSuffix(hostOnly(h), "."))] = true
	}
	return g
}

// hostOnly strips a port, if any, and IPv6 brackets.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]")
}

func (g *hostGuard) allows(hostport string) bool {
	h := strings.ToLower(strings.TrimSuffix(hostOnly(hostport), "."))
	if h == "" {
		return false
	}
	if net.ParseIP(h) != nil || h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	return g.allowed[h]
}

func (g *hostGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.allows(r.Host) {
		http.Error(w, "HOST_NOT_ALLOWED: this server does not serve "+hostOnly(r.Host)+"; list it with -public-host (or public_hosts in the config)", http.StatusMisdirectedRequest)
		return
	}
	g.next.ServeHTTP(w, r)
}
