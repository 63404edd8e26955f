package merge

import (
	"bytes"
	"testing"

	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/collabtext"
	"github.com/hearthdb/hearth/syncworker/hlc"
	"github.com/hearthdb/hearth/syncworker/schema"
)

// textState is the state of a collaborative text field holding text, and
// (as a batch of ops) what a server sends a fresh replica for it.
func textState(t *testing.T, text string) []byte {
	t.Helper()
	doc, _, err := collabtext.FromText("server", text)
	if err != nil {
		t.Fatal(err)
	}
	b, err := doc.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestResolveTableWritesTextNotOpsOrState: whatever the row held, an
// insert carrying a text column's ops writes the column's visible text to
// the row, keeps the merged state as the field, and leaves the change's
// own values alone.
func TestResolveTableWritesTextNotOpsOrState(t *testing.T) {
	info := &schema.Info{Table: appschema.Table{Name: "notes", Text: []string{"body"}}}
	stamp := func(ts int64) hlc.Stamp { return hlc.Stamp{TS: hlc.Timestamp(ts << 16), Node: "n"} }
	hello, world := textState(t, "hello"), textState(t, "world")
	cases := []struct {
		name     string
		cur      Row
		ops      []byte
		wantText string
		// wantField: the field's state after, nil when the field is
		// not recorded (Row.Fields has no entry).
		wantField []byte
	}{
		{name: "fresh row", ops: hello, wantText: "hello", wantField: hello},
		{name: "a newer update of the field holds the same state (a duplicate)",
			cur: Row{Fields: map[string]Field{"body": {Stamp: stamp(9), Value: hello}}},
			ops: hello, wantText: "hello", wantField: hello},
		{name: "an older field state",
			cur: Row{Fields: map[string]Field{"body": {Stamp: stamp(1), Value: world}}},
			ops: hello,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			values := map[string]any{"title": "a note", "body": c.ops}
			ch := &change.Change{Table: "notes", Op: change.Insert, Stamp: stamp(5), Values: values}
			out, err := ResolveTable(c.cur, ch, info)
			if err != nil {
				t.Fatal(err)
			}
			if out.Effect.Kind != Write {
				t.Fatalf("effect %v, want write", out.Effect.Kind)
			}
			if out.Effect.Values["title"] != "a note" {
				t.Errorf("title %v", out.Effect.Values["title"])
			}
			body, ok := out.Effect.Values["body"].(string)
			if !ok {
				t.Fatalf("the row's body is %T %v, want text", out.Effect.Values["body"], out.Effect.Values["body"])
			}
			state, _ := out.Row.Fields["body"].Value.([]byte)
			if c.wantField != nil && !bytes.Equal(state, c.wantField) {
				t.Errorf("field state changed")
			}
			doc, err := collabtext.Load("", state)
			if err != nil {
				t.Fatalf("field state: %v", err)
			}
			if body != doc.String() {
				t.Errorf("row body %q, field state's text %q", body, doc.String())
			}
			if c.wantText != "" && body != c.wantText {
				t.Errorf("row body %q, want %q", body, c.wantText)
			}
			if v, ok := values["body"].([]byte); !ok || !bytes.Equal(v, c.ops) || len(values) != 2 {
				t.Errorf("the change's values were modified: %v", values)
			}
		})
	}
}
