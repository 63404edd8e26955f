package merge

import (
	"testing"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/collabtext"
	"github.com/hearthdb/hearth/syncworker/schema"
)

// TestTextEditsStartAFieldWithoutStateFromItsText: a backend's write of
// a field that holds plain text (declared collaborative after it held
// it) starts from that text as a replica's edit does, so the two edits,
// merged, read the text once with both.
func TestTextEditsStartAFieldWithoutStateFromItsText(t *testing.T) {
	info := &schema.Info{Table: appschema.Table{Name: "tasks", Text: []string{"body"}}}
	ch := &change.Change{Table: "tasks", Op: change.Update, Values: map[string]any{"body": "hello!", "title": "x"}}
	start := func(col string) ([]byte, string) {
		if col != "body" {
			t.Fatalf("asked for the start of %q", col)
		}
		return nil, "hello"
	}
	if err := TextEdits(info, ch, start, "backend"); err != nil {
		t.Fatal(err)
	}
	if ch.Values["title"] != "x" {
		t.Fatalf("another column changed: %v", ch.Values["title"])
	}
	raw, ok := ch.Values["body"].([]byte)
	if !ok {
		t.Fatalf("body is %T, not ops", ch.Values["body"])
	}
	backend, err := collabtext.DecodeOps(raw)
	if err != nil {
		t.Fatal(err)
	}
	device, base, err := collabtext.FromText("device", "hello")
	if err != nil {
		t.Fatal(err)
	}
	edit, err := device.SetText("Oh, hello")
	if err != nil {
		t.Fatal(err)
	}
	merged := collabtext.New("reader")
	if err := merged.Apply(append(base, edit...)...); err != nil {
		t.Fatal(err)
	}
	if err := merged.Apply(backend...); err != nil {
		t.Fatal(err)
	}
	if got := merged.String(); got != "Oh, hello!" {
		t.Fatalf("the device's and the backend's edits merge into %q", got)
	}
}
