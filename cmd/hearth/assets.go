// The web assets hearth serve serves: the client library, the worker
// bootstrap, the wasm bundle (with precompressed variants) and the demo
// pages.

package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// contentTypes covers what Go's mime table may lack or get wrong on a bare
// machine; application/wasm is required by instantiateStreaming.
var contentTypes = map[string]string{
	".wasm": "application/wasm",
	".js":   "text/javascript; charset=utf-8",
	".mjs":  "text/javascript; charset=utf-8",
	".ts":   "text/plain; charset=utf-8",
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".json": "application/json",
	".png":  "image/png",
	".svg":  "image/svg+xml",
	".md":   "text/markdown; charset=utf-8",
}

// hashedName matches files named by their content hash (hearth.<16 hex>.wasm).
var hashedName = regexp.MustCompile(`\.[0-9a-f]{16}\.[a-z]+$`)

// encodings are the precompressed variants looked for next to a file, in
// order of preference.
var encodings = []struct{ token, suffix string }{
	{"br", ".br"},
	{"gzip", ".gz"},
}

// assetHandler serves files below a directory. It reads through an
// os.Root, so nothing outside the directory is reachable: not by "..",
// and not by a symlink pointing out of it (a relative link that stays
// inside works; absolute links are refused).
type assetHandler struct {
	root *os.Root
	// rootErr is why the directory could not be opened; every request
	// then gets 404.
	rootErr error

	// unsafeEval allows the pages evaluating strings as code (see
	// contentSecurityPolicy).
	unsafeEval bool

	mu     sync.Mutex
	etags  map[string]etagEntry
	inline map[string]inlineEntry
}

// inlineEntry is a page's inline hashes, cached by (mtime, size) like
// etags.
type inlineEntry struct {
	mod    time.Time
	size   int64
	hashes inlineHashes
}

type etagEntry struct {
	mod  time.Time
	size int64
	etag string
}

// newAssetHandler returns a handler for the directory dir.
func newAssetHandler(dir string) *assetHandler {
	root, err := os.OpenRoot(dir)
	return &assetHandler{root: root, rootErr: err, etags: make(map[string]etagEntry), inline: make(map[string]inlineEntry)}
}

func (h *assetHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := path.Clean("/" + r.URL.Path)
	if strings.HasSuffix(name, "/") || name == "/" {
		name += "index.html"
	}
	for _, part := range strings.Split(name, "/") {
		if strings.HasPrefix(part, ".") && part != "" {
			http.NotFound(w, r)
			return
		}
	}
	if h.rootErr != nil {
		http.NotFound(w, r)
		return
	}
	// os.Root takes paths relative to its directory.
	file := strings.TrimPrefix(name, "/")
	if fi, err := h.root.Stat(file); err == nil && fi.IsDir() {
		file = path.Join(file, "index.html")
		name = path.Join(name, "index.html")
	}

	ctype := contentTypes[path.Ext(name)]
	if ctype == "" {
		ctype = mime.TypeByExtension(path.Ext(name))
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	hdr := w.Header()
	hdr.Set("Content-Type", ctype)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	// Set on every response, not only pages: a worker's script runs
	// under the policy its own response carries.
	var inline inlineHashes
	if strings.HasPrefix(ctype, "text/html") {
		inline = h.inlineHashes(file)
	}
	hdr.Set("Content-Security-Policy", contentSecurityPolicy(r.Host, inline, h.unsafeEval))
	// Cross-origin isolation gives precise timers and
	// performance.measureUserAgentSpecificMemory; Hearth itself needs no
	// SharedArrayBuffer.
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Cross-Origin-Embedder-Policy", "require-corp")
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")
	if hashedName.MatchString(path.Base(name)) {
		// Content-hashed files never change: cache them for good. Chromium
		// then reuses its compiled wasm code on every visit, which a
		// revalidated response loses after the second visit.
		hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		// Revalidate every time (cheap: a 304 by ETag) so a new build is
		// picked up at once.
		hdr.Set("Cache-Control", "no-cache")
	}
	hdr.Add("Vary", "Accept-Encoding")
	if r.Header.Get("Service-Worker") == "script" {
		// An app's service worker may sit in the app's folder and still
		// control the whole origin.
		hdr.Set("Service-Worker-Allowed", "/")
	}

	accept := r.Header.Get("Accept-Encoding")
	for _, enc := range encodings {
		if !acceptsEncoding(accept, enc.token) {
			continue
		}
		if f, fi, err := h.openRegular(file + enc.suffix); err == nil {
			defer f.Close()
			hdr.Set("Content-Encoding", enc.token)
			h.serve(w, r, f, fi, file+enc.suffix)
			return
		}
	}
	f, fi, err := h.openRegular(file)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	h.serve(w, r, f, fi, file)
}

func (h *assetHandler) serve(w http.ResponseWriter, r *http.Request, f *os.File, fi os.FileInfo, file string) {
	etag, err := h.etag(file, f, fi)
	if err == nil {
		w.Header().Set("ETag", etag)
	}
	http.ServeContent(w, r, "", fi.ModTime(), f)
}

// etag is a content hash, cached by (mtime, size), so that a rebuild with
// identical bytes keeps browser caches valid and any change invalidates them.
func (h *assetHandler) etag(file string, f *os.File, fi os.FileInfo) (string, error) {
	h.mu.Lock()
	e, ok := h.etags[file]
	h.mu.Unlock()
	if ok && e.mod.Equal(fi.ModTime()) && e.size == fi.Size() {
		return e.etag, nil
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, f); err != nil {
		return "", err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	etag := `"` + hex.EncodeToString(sum.Sum(nil)[:12]) + `"`
	h.mu.Lock()
	h.etags[file] = etagEntry{mod: fi.ModTime(), size: fi.Size(), etag: etag}
	h.mu.Unlock()
	return etag, nil
}

// inlineHashes hashes a page's inline scripts and styles (none if it
// cannot be read: its inline code is then refused, never allowed).
func (h *assetHandler) inlineHashes(file string) inlineHashes {
	f, fi, err := h.openRegular(file)
	if err != nil {
		return inlineHashes{}
	}
	defer f.Close()
	h.mu.Lock()
	e, ok := h.inline[file]
	h.mu.Unlock()
	if ok && e.mod.Equal(fi.ModTime()) && e.size == fi.Size() {
		return e.hashes
	}
	hashes, err := hashInline(f)
	if err != nil {
		return inlineHashes{}
	}
	h.mu.Lock()
	h.inline[file] = inlineEntry{mod: fi.ModTime(), size: fi.Size(), hashes: hashes}
	h.mu.Unlock()
	return hashes
}

func (h *assetHandler) openRegular(name string) (*os.File, os.FileInfo, error) {
	f, err := h.root.Open(name)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: not a regular file", name)
	}
	return f, fi, nil
}

// acceptsEncoding reports whether an Accept-Encoding header allows token
// (q=0 refuses it).
func acceptsEncoding(header, token string) bool {
	for _, part := range strings.Split(header, ",") {
		fields := strings.Split(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(fields[0]), token) {
			continue
		}
		for _, p := range fields[1:] {
			p = strings.ReplaceAll(strings.TrimSpace(p), " ", "")
			if p == "q=0" || p == "q=0.0" || p == "q=0.00" || p == "q=0.000" {
				return false
			}
		}
		return true
	}
	return false
}

// webMount serves the directory dir at the URL prefix (ending in "/");
// unsafeEval relaxes its pages' policy (see contentSecurityPolicy).
type webMount struct {
	prefix, dir string
	unsafeEval  bool
}

// webMounts is the repeatable -web flag: the library at /, each app in a
// folder of its own.
type webMounts []webMount

func (m *webMounts) String() string {
	parts := make([]string, len(*m))
	for i, w := range *m {
		parts[i] = w.prefix + "=" + w.dir
	}
	return strings.Join(parts, ",")
}

func (m *webMounts) Set(v string) error {
	prefix, dir, ok := strings.Cut(v, "=")
	if !ok {
		prefix, dir = "/", v
	}
	if !strings.HasPrefix(prefix, "/") || !strings.HasSuffix(prefix, "/") || dir == "" {
		return fmt.Errorf("want DIR or /PREFIX/=DIR, got %q", v)
	}
	*m = append(*m, webMount{prefix: prefix, dir: dir})
	return nil
}

// defaultMounts serves the library and the demo board from a checkout.
func defaultMounts() webMounts {
	return webMounts{{prefix: "/", dir: "web"}, {prefix: "/board/", dir: filepath.Join("examples", "board", "web")}}
}

// register mounts each directory on mux; "/" alone redirects to the first
// app that has an index page (the board, by default).
func (m webMounts) register(mux *http.ServeMux) {
	for _, w := range m {
		a := newAssetHandler(w.dir)
		a.unsafeEval = w.unsafeEval
		h := http.Handler(a)
		if w.prefix != "/" {
			h = http.StripPrefix(strings.TrimSuffix(w.prefix, "/"), h)
		}
		mux.Handle(w.prefix, h)
	}
	for _, w := range m {
		if w.prefix != "/" && m.serves(w.prefix+"index.html") {
			mux.Handle("GET /{$}", http.RedirectHandler(w.prefix, http.StatusFound))
			return
		}
	}
}

// mounted reports whether a mount serves the prefix.
func (m webMounts) mounted(prefix string) bool {
	for _, w := range m {
		if w.prefix == prefix {
			return true
		}
	}
	return false
}

// allowEval sets unsafeEval on the mounts at the given prefixes, and
// fails for a prefix no mount has.
func (m webMounts) allowEval(prefixes []string) error {
	for _, p := range prefixes {
		found := false
		for i := range m {
			if m[i].prefix == p {
				m[i].unsafeEval, found = true, true
			}
		}
		if !found {
			return fmt.Errorf("-csp-unsafe-eval %s: no -web mount at that prefix", p)
		}
	}
	return nil
}

// serves reports whether urlPath maps to a file of one of the mounts.
func (m webMounts) serves(urlPath string) bool {
	for _, w := range m {
		if rest, ok := strings.CutPrefix(urlPath, w.prefix); ok {
			if fi, err := os.Stat(filepath.Join(w.dir, filepath.FromSlash(rest))); err == nil && fi.Mode().IsRegular() {
				return true
			}
		}
	}
	return false
}
