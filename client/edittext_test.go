package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hearthdb/hearth/syncworker/appschema"
)

// TestEditTextThroughTheGoClient: DB.EditText edits a collaborative text
// field at exact positions and returns the new text; its refusals carry
// their codes.
func TestEditTextThroughTheGoClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	url := notesServer(t, appschema.Table{Name: "notes", Text: []string{"body"}})
	_, db := openDB(t, ctx, OpenOptions{Name: "go-edit-text", Storage: "memory",
		Migrations: []appschema.Migration{{Version: 1, SQL: migration}},
		Sync:       &SyncOptions{URL: url, Tables: []string{"notes"}, Text: map[string][]string{"notes": {"body"}}}})
	if _, err := db.Exec(ctx, "INSERT INTO notes VALUES ('n1', 'milk, eggs')"); err != nil {
		t.Fatal(err)
	}
	text, err := db.EditText(ctx, "notes", []any{"n1"}, "body", []TextEdit{{At: 0, Insert: "oat "}, {At: 8, Delete: 2}, {At: 8, Insert: " & "}, {At: 15, Insert: "🥚"}, {At: 16, Insert: "!"}})
	if err != nil || text != "oat milk & eggs🥚!" {
		t.Fatalf("EditText: %q, %v", text, err)
	}
	r, err := db.Query(ctx, "SELECT body FROM notes WHERE id = 'n1'")
	if err != nil || len(r.Rows) != 1 || r.Rows[0][0] != text {
		t.Fatalf("the column: %+v, %v", r, err)
	}
	var herr *Error
	if _, err := db.EditText(ctx, "notes", []any{"n1"}, "body", []TextEdit{{At: 100, Insert: "x"}}); !errors.As(err, &herr) || herr.Code != "TEXT_OP_OUT_OF_RANGE" {
		t.Fatalf("out of range: %v", err)
	}
	if _, err := db.EditText(ctx, "notes", []any{"n2"}, "body", []TextEdit{{Insert: "x"}}); !errors.As(err, &herr) || herr.Code != "NOT_FOUND" {
		t.Fatalf("no such row: %v", err)
	}
}
