package syncstatus

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hearthdb/hearth/codec"
)

// TestPageMatchesHearthDTS keeps the Go side's status (what the worker
// encodes) and web/hearth.d.ts's interface SyncStatus (what JavaScript
// apps are told they get) naming the same fields, nested objects
// included.
func TestPageMatchesHearthDTS(t *testing.T) {
	src, err := os.ReadFile("../../web/hearth.d.ts")
	if err != nil {
		t.Fatal(err)
	}
	body := interfaceBody(t, string(src), "SyncStatus")
	full := Status{LastError: &ErrorInfo{Class: ClassServer}}.Page()
	if got, want := keys(full), fieldNames(body); !slices.Equal(got, want) {
		t.Errorf("the worker encodes %v, hearth.d.ts's SyncStatus declares %v", got, want)
	}
	// Inline object types: `name: { a: T; b: T }` (with `| null` allowed).
	inline := regexp.MustCompile(`(?m)^\s*(\w+)\??:\s*\{([^}]*)\}`)
	for _, m := range inline.FindAllStringSubmatch(body, -1) {
		nested, ok := full[m[1]].(map[string]any)
		if !ok {
			t.Errorf("hearth.d.ts declares %s as an object, the worker encodes %T", m[1], full[m[1]])
			continue
		}
		if got, want := keys(nested), fieldNames(strings.ReplaceAll(m[2], ";", "\n")); !slices.Equal(got, want) {
			t.Errorf("%s: the worker encodes %v, hearth.d.ts declares %v", m[1], got, want)
		}
	}
}

// interfaceBody is the text between an exported interface's braces.
func interfaceBody(t *testing.T, src, name string) string {
	start := strings.Index(src, "export interface "+name+" {")
	if start < 0 {
		t.Fatalf("hearth.d.ts has no interface %s", name)
	}
	body := src[start+len("export interface "+name+" {"):]
	depth := 1
	for i, r := range body {
		switch r {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return body[:i]
			}
		}
	}
	t.Fatalf("interface %s is not closed", name)
	return ""
}

// fieldNames are the property names declared at the top level of an
// interface or object type body, sorted; comments and nested braces are
// skipped.
func fieldNames(body string) []string {
	body = regexp.MustCompile(`(?s)/\*.*?\*/`).ReplaceAllString(body, "")
	prop := regexp.MustCompile(`^\s*(\w+)\??\s*:`)
	var names []string
	depth := 0
	for _, line := range strings.Split(body, "\n") {
		if depth == 0 {
			if m := prop.FindStringSubmatch(line); m != nil {
				names = append(names, m[1])
			}
		}
		depth += strings.Count(line, "{") - strings.Count(line, "}")
	}
	slices.Sort(names)
	return names
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestDecodeReadsEncode: what the Go client decodes is what the worker
// encoded (at the page's millisecond precision), every field set.
func TestDecodeReadsEncode(t *testing.T) {
	at := time.UnixMilli(1_764_000_000_123)
	want := Status{
		State: StateBackoff, Connected: true, Online: true, LastSyncedAt: at, Pending: 3, Cursor: 7, Head: 9,
		Retries:       map[Class]int64{ClassOffline: 2, ClassTimeout: 0, ClassAuth: 0, ClassSchema: 0, ClassServer: 1, ClassProtocol: 0, ClassLocal: 0, ClassReplica: 4},
		LastError:     &ErrorInfo{Class: ClassServer, Code: "INTERNAL", Message: "boom", At: at.Add(time.Second)},
		NextAttemptAt: at.Add(time.Minute), InitialSync: Progress{Active: true, Rows: 5, Total: 10, Phases: Phases{Chunks: 2, Bytes: 4096,
			Wait: 3 * time.Millisecond, Decode: 1500 * time.Microsecond, Merge: 20 * time.Millisecond, Commit: 250 * time.Microsecond}},
		Divergences: 1, Checksums: 4, DivergedTables: []string{"tasks"}, ReconcileLatency: 1500 * time.Microsecond,
		Flagged: 1, Refused: 2, Quarantined: 3, SchemaVersion: 2, ServerMin: 1, ServerMax: 3,
		Replica: Replica{Used: true, Bytes: 8192, Download: 12 * time.Millisecond, Restore: 1500 * time.Microsecond, HeadStart: true, Reason: "why not"},
	}
	var e codec.Encoder
	want.Encode(&e)
	v, err := codec.Decode(e.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := Decode(v); !reflect.DeepEqual(got, want) {
		t.Fatalf("decoded %+v\nencoded %+v", got, want)
	}
	if got := Decode(Status{}.Page()); !got.LastSyncedAt.IsZero() || got.LastError != nil || got.Cursor != 0 {
		t.Fatalf("a zero status decodes as %+v", got)
	}
}
