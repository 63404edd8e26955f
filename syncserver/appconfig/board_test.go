package appconfig_test

import (
	"slices"
	"testing"

	"github.com/hearthdb/hearth/examples/board/app"
	"github.com/hearthdb/hearth/examples/board/model"
	"github.com/hearthdb/hearth/syncserver/appconfig"
)

// TestBoardConfigLoads: the demo board's hearth.yaml, as embedded, is
// valid and says what the board needs.
func TestBoardConfigLoads(t *testing.T) {
	a, err := appconfig.LoadFS(app.FS, "hearth.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tb := range a.Tables {
		names = append(names, tb.Name)
	}
	if a.Name != "board" || !slices.Equal(names, model.Tables) || len(a.Migrations) != 1 || len(a.Invariants) != 1 {
		t.Fatalf("board config: %+v", a)
	}
	if a.Scopes["bookings"] != "workspace_id" || a.TableRules["users"].Write.Owner != "id" || a.Auth != nil {
		t.Fatalf("board rules: %+v %+v", a.Scopes, a.TableRules)
	}
}
