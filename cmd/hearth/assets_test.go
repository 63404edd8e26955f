package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func serveAsset(t *testing.T, h http.Handler, path, acceptEncoding string, hdr map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest("GET", path, nil)
	if acceptEncoding != "" {
		req.Header.Set("Accept-Encoding", acceptEncoding)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestServesPrecompressedVariants(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "dist/hearth.wasm", "raw")
	writeFile(t, dir, "dist/hearth.wasm.gz", "gz")
	writeFile(t, dir, "dist/hearth.wasm.br", "br")
	h := newAssetHandler(dir)
	for _, tc := range []struct{ accept, body, enc string }{
		{"gzip, deflate, br", "br", "br"},
		{"gzip, deflate", "gz", "gzip"},
		{"br;q=0, gzip", "gz", "gzip"},
		{"", "raw", ""},
	} {
		rec := serveAsset(t, h, "/dist/hearth.wasm", tc.accept, nil)
		if rec.Code != 200 || rec.Body.String() != tc.body || rec.Header().Get("Content-Encoding") != tc.enc {
			t.Errorf("Accept-Encoding %q: %d %q enc=%q", tc.accept, rec.Code, rec.Body, rec.Header().Get("Content-Encoding"))
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/wasm" {
			t.Errorf("content type %q", ct)
		}
	}
}

func TestRevalidationByETag(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "index.html", "<p>hi</p>")
	h := newAssetHandler(dir)
	first := serveAsset(t, h, "/", "", nil)
	etag := first.Header().Get("ETag")
	if first.Code != 200 || etag == "" || first.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("first: %d etag=%q ct=%q", first.Code, etag, first.Header().Get("Content-Type"))
	}
	if again := serveAsset(t, h, "/", "", map[string]string{"If-None-Match": etag}); again.Code != http.StatusNotModified {
		t.Fatalf("revalidation: %d", again.Code)
	}
}

func TestRefusesHiddenFilesAndTraversal(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, ".secret", "x")
	writeFile(t, dir, "a.js", "x")
	h := newAssetHandler(dir)
	for _, p := range []string{"/.secret", "/../etc/passwd", "/nope.js"} {
		if rec := serveAsset(t, h, p, "", nil); rec.Code != 404 {
			t.Errorf("%s: %d", p, rec.Code)
		}
	}
	if rec := serveAsset(t, h, "/a.js", "", nil); rec.Code != 200 || rec.Header().Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Errorf("a.js: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}

func TestHashedFilesAreImmutable(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "dist/hearth.0123456789abcdef.wasm", "raw")
	writeFile(t, dir, "dist/bundle.js", "export const wasmFile = 'x'")
	h := newAssetHandler(dir)
	if cc := serveAsset(t, h, "/dist/hearth.0123456789abcdef.wasm", "", nil).Header().Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("hashed bundle: Cache-Control %q", cc)
	}
	if cc := serveAsset(t, h, "/dist/bundle.js", "", nil).Header().Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("bundle.js: Cache-Control %q", cc)
	}
}

// A symlink out of the web directory must not serve what it points to
// (a review served /etc/passwd through one); relative links that stay
// inside work (os.Root refuses absolute ones).
func TestSymlinksDoNotLeaveTheWebDirectory(t *testing.T) {
	outside := t.TempDir()
	writeFile(t, outside, "secret.txt", "do not serve")
	dir := t.TempDir()
	writeFile(t, dir, "real/page.html", "<p>inside</p>")
	for link, target := range map[string]string{
		"leak.txt":    filepath.Join(outside, "secret.txt"),
		"leakdir":     outside,
		"relative":    "../" + filepath.Base(outside),
		"inside.html": filepath.Join("real", "page.html"),
	} {
		if err := os.Symlink(target, filepath.Join(dir, link)); err != nil {
			t.Fatal(err)
		}
	}
	h := newAssetHandler(dir)
	for _, p := range []string{"/leak.txt", "/leakdir/secret.txt", "/relative/secret.txt", "/../secret.txt", "/%2e%2e/secret.txt"} {
		rec := serveAsset(t, h, p, "", nil)
		if rec.Code != http.StatusNotFound || rec.Body.String() == "do not serve" {
			t.Errorf("%s: %d %q, want 404", p, rec.Code, rec.Body)
		}
	}
	if rec := serveAsset(t, h, "/inside.html", "", nil); rec.Code != 200 || rec.Body.String() != "<p>inside</p>" {
		t.Errorf("a link inside the directory: %d %q", rec.Code, rec.Body)
	}
}
