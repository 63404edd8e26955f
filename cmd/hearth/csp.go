// The Content-Security-Policy of the pages hearth serve serves.

package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"regexp"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// maxHashedPage bounds the HTML read to hash its inline scripts and
// styles: a page larger than this gets no hashes (its inline code is
// refused), not an unbounded read.
const maxHashedPage = 4 << 20

// inlineHashes are the CSP source expressions of an HTML page's inline
// <script> (an import map, a module, a classic script) and <style>
// elements: 'sha256-…' of each element's text, as browsers hash it.
// A page's own inline code runs; code injected into the document later
// (by a script gadget, or markup an app inserts) has no hash and is
// refused, which is what a nonce-free strict policy is for.
type inlineHashes struct {
	scripts, styles []string
}

// hashInline reads an HTML page and hashes its inline scripts and styles.
func hashInline(r io.Reader) (inlineHashes, error) {
	var h inlineHashes
	data, err := io.ReadAll(io.LimitReader(r, maxHashedPage+1))
	if err != nil || len(data) > maxHashedPage {
		return h, err
	}
	z := html.NewTokenizer(bytes.NewReader(data))
	var in atom.Atom // the raw-text element being read, if any
	var text strings.Builder
	srcless := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			return h, nil
		case html.StartTagToken:
			name, hasAttr := z.TagName()
			a := atom.Lookup(name)
			if a != atom.Script && a != atom.Style {
				continue
			}
			in, srcless = a, true
			text.Reset()
			for hasAttr {
				var key []byte
				key, _, hasAttr = z.TagAttr()
				if a == atom.Script && string(key) == "src" {
					srcless = false
				}
			}
		case html.TextToken:
			if in != 0 {
				text.Write(z.Raw())
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if a := atom.Lookup(name); a == in && in != 0 {
				if srcless {
					// Browsers hash the text after newline normalization.
					body := strings.ReplaceAll(strings.ReplaceAll(text.String(), "\r\n", "\n"), "\r", "\n")
					sum := sha256.Sum256([]byte(body))
					src := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
					if in == atom.Script {
						h.scripts = append(h.scripts, src)
					} else {
						h.styles = append(h.styles, src)
					}
				}
				in = 0
			}
		}
	}
}

// wsHost matches a Host header safe to name in a policy (hostGuard has
// vetted the name; this keeps anything else out of the header).
var wsHost = regexp.MustCompile(`^[A-Za-z0-9.\-]+(:[0-9]+)?$|^\[[0-9A-Fa-f:.]+\](:[0-9]+)?$`)

// contentSecurityPolicy is the policy of a response served for host,
// with a page's inline hashes. Go's wasm needs 'wasm-unsafe-eval' to
// compile; the sync WebSocket is named by host as well as 'self' because
// WebKit does not match ws: and wss: by 'self'. Nothing else is
// loaded from elsewhere, framed, or run from plugins. unsafeEval lets
// the page evaluate strings as code, which some frameworks need (the
// demo board's vugu DOM renderer evaluates its helper script).
func contentSecurityPolicy(host string, h inlineHashes, unsafeEval bool) string {
	connect := "'self'"
	if wsHost.MatchString(host) {
		connect += " ws://" + host + " wss://" + host
	}
	script := []string{"'self'", "'wasm-unsafe-eval'"}
	if unsafeEval {
		script = append(script, "'unsafe-eval'")
	}
	script = append(script, h.scripts...)
	style := append([]string{"'self'"}, h.styles...)
	return "default-src 'self'; script-src " + strings.Join(script, " ") +
		"; style-src " + strings.Join(style, " ") +
		"; connect-src " + connect +
		"; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
}
