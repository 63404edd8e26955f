package schema

import (
	"slices"
	"testing"
)

// TestPageAndServerAgreeOnTables: the tables the board's page syncs (and
// their collaborative text columns) are the ones its hearth.yaml
// declares, in the same order; a column merged by characters on one side
// and by last writer on the other would diverge.
func TestPageAndServerAgreeOnTables(t *testing.T) {
	app, err := App()
	if err != nil {
		t.Fatal(err)
	}
	if len(app.Tables) != len(Tables) {
		t.Fatalf("hearth.yaml syncs %d tables, the page %d", len(app.Tables), len(Tables))
	}
	for i, want := range Tables {
		got := app.Tables[i]
		if got.Name != want.Name || got.Resurrect != want.Resurrect || !slices.Equal(got.Text, want.Text) {
			t.Errorf("table %d: hearth.yaml %+v, the page %+v", i, got, want)
		}
	}
}
