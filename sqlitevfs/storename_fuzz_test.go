package sqlitevfs

import (
	"strconv"
	"strings"
	"testing"
)

// FuzzStoreName checks the mapping from SQLite file names (which the app
// chooses, and SQLite derives journal names from) to store names: the
// result is a valid OPFS file name and IndexedDB key that cannot pass for
// a temporary file, and distinct names stay distinct (the escaping can be
// undone).
func FuzzStoreName(f *testing.F) {
	for _, name := range []string{"/app.db", "/app.db-journal", "app.db-wal", "//dir/x%y\\z", "/..", ".", "/", "", "%tmp-1", "a\x00b"} {
		f.Add(name)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := storeName(name)
		trimmed := strings.TrimLeft(name, "/")
		if trimmed == "" {
			if err == nil {
				t.Fatalf("%q names no file, yet maps to %q", name, got)
			}
			return
		}
		if err != nil {
			t.Fatalf("%q: %v", name, err)
		}
		if got == "." || got == ".." || strings.ContainsAny(got, "/\\\x00") {
			t.Fatalf("%q maps to %q, not a valid file name", name, got)
		}
		if strings.HasPrefix(got, TempFilePrefix) {
			t.Fatalf("%q maps to %q, a temporary file's name", name, got)
		}
		if back, ok := unescapeStoreName(got); !ok || back != trimmed {
			t.Fatalf("%q maps to %q, which unescapes to %q (%v)", name, got, back, ok)
		}
	})
}

// unescapeStoreName undoes storeName's %XX escapes.
func unescapeStoreName(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+3 > len(s) {
			return "", false
		}
		c, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(c))
		i += 2
	}
	return b.String(), true
}
