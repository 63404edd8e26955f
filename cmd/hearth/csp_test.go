package main

import (
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
)

func sha256Source(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// TestPagesCarryAStrictPolicy: every response carries the policy, nosniff
// and no referrer; a page's own inline scripts, import map and styles are
// allowed by their hashes (as browsers hash them: CRLF read as LF), and
// nothing else inline is.
func TestPagesCarryAStrictPolicy(t *testing.T) {
	dir := t.TempDir()
	const classic, importMap, style = "\r\n  window.x = 1;\r\n", `{ "imports": { "kysely": "/kysely/index.js" } }`, "body { color: red }"
	writeFile(t, dir, "index.html", "<!doctype html><html><head><script>"+classic+"</script>"+
		`<script type="importmap">`+importMap+`</script><script src="/a.js"></script><script type="module" src="./b.js"> </script>`+
		"<style>"+style+"</style><title>t</title></head><body><p>x</p></body></html>")
	writeFile(t, dir, "worker.js", "postMessage(1)")
	h := newAssetHandler(dir)

	rec := serveAsset(t, h, "/", "", nil)
	csp := rec.Header().Get("Content-Security-Policy")
	directives := map[string]string{}
	for _, d := range strings.Split(csp, ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	want := map[string]string{
		"default-src":     "'self'",
		"script-src":      "'self' 'wasm-unsafe-eval' " + sha256Source(strings.ReplaceAll(classic, "\r\n", "\n")) + " " + sha256Source(importMap),
		"style-src":       "'self' " + sha256Source(style),
		"connect-src":     "'self' ws://example.com wss://example.com",
		"object-src":      "'none'",
		"base-uri":        "'none'",
		"frame-ancestors": "'none'",
	}
	for name, value := range want {
		if directives[name] != value {
			t.Errorf("%s %q, want %q (policy %q)", name, directives[name], value, csp)
		}
	}
	for name, value := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
		if got := rec.Header().Get(name); got != value {
			t.Errorf("%s %q, want %q", name, got, value)
		}
	}

	// A script carries the policy with no hashes: a worker runs under it.
	rec = serveAsset(t, h, "/worker.js", "", nil)
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self' 'wasm-unsafe-eval';") {
		t.Errorf("worker script's policy %q", csp)
	}
}

// TestPolicyNamesOnlyAPlainHost: the Host header goes into the policy's
// connect-src only when it is a plain host[:port].
func TestPolicyNamesOnlyAPlainHost(t *testing.T) {
	for host, want := range map[string]string{
		"127.0.0.1:8080":   "connect-src 'self' ws://127.0.0.1:8080 wss://127.0.0.1:8080;",
		"[::1]:8080":       "connect-src 'self' ws://[::1]:8080 wss://[::1]:8080;",
		"localhost":        "connect-src 'self' ws://localhost wss://localhost;",
		"a; script-src *":  "connect-src 'self';",
		"evil.example:80 ": "connect-src 'self';",
	} {
		if got := contentSecurityPolicy(host, inlineHashes{}, false); !strings.Contains(got, want) {
			t.Errorf("host %q: policy %q, want %q", host, got, want)
		}
	}
}

// TestUnsafeEvalOnlyWhereAsked: only a mount given -csp-unsafe-eval
// lets its pages evaluate strings; an unknown prefix is an error.
func TestUnsafeEvalOnlyWhereAsked(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "index.html", "<p>x</p>")
	mounts := webMounts{{prefix: "/", dir: dir}, {prefix: "/board/", dir: dir}}
	if err := mounts.allowEval([]string{"/board/"}); err != nil {
		t.Fatal(err)
	}
	if err := mounts.allowEval([]string{"/nope/"}); err == nil {
		t.Fatal("an unknown prefix was accepted")
	}
	mux := http.NewServeMux()
	mounts.register(mux)
	for path, want := range map[string]bool{"/index.html": false, "/board/": true} {
		rec := serveAsset(t, mux, path, "", nil)
		if got := strings.Contains(rec.Header().Get("Content-Security-Policy"), "'unsafe-eval'"); got != want || rec.Code != 200 {
			t.Errorf("%s: %d, unsafe-eval %v, want %v", path, rec.Code, got, want)
		}
	}
}
