// Package schema is the demo task board's data model: the migrations the
// board's clients and the sync server both run, the tables that sync, the
// server invariant that flags double-booked rooms, and a deterministic seed
// of realistic size.
//
// It is the server's view of board/model, which the board (js/wasm)
// imports directly so its bundle carries neither SQLite nor the server.
package schema

import (
	"context"
	"fmt"

	"github.com/hearthdb/hearth/examples/board/model"
	"github.com/hearthdb/hearth/syncserver"
	"github.com/hearthdb/hearth/syncserver/store"
	"github.com/hearthdb/hearth/syncworker/appschema"
)

// Migrations are the board's schema steps, oldest first.
var Migrations = model.Migrations

// Tables are the synced tables (model.Tables).
var Tables = func() []appschema.Table {
	out := make([]appschema.Table, len(model.Tables))
	for i, name := range model.Tables {
		out[i] = appschema.Table{Name: name}
	}
	return out
}()

// Scopes is the board's scope rule for the sync server
// (syncserver.Config.Scopes): a row belongs to its workspace, a
// workspace to itself. Users have no scope: every member may read them.
var Scopes = map[string]string{
	"workspaces": "id", "members": "workspace_id", "projects": "workspace_id",
	"tasks": "workspace_id", "rooms": "workspace_id", "bookings": "workspace_id",
}

// Statuses are the board's columns, in order.
var Statuses = model.Statuses

// DoubleBooking flags a booking whose room and slot another live booking
// already holds. The change is kept (both people booked offline; neither
// loses their edit) and the violation syncs to every board, which shows
// both bookings so someone can move one.
func DoubleBooking(ctx context.Context, q store.Querier, ch syncserver.Change) (string, error) {
	if ch.Table != "bookings" || ch.Op == "delete" || len(ch.Key) != 1 {
		return "", nil
	}
	rows, err := q.Query(ctx, `SELECT b.id, b.title, r.name, b.slot FROM bookings b
		JOIN bookings me ON me.id = ? AND me.room_id = b.room_id AND me.slot = b.slot
		LEFT JOIN rooms r ON r.id = b.room_id
		WHERE b.id <> me.id AND b.slot <> '' AND b.room_id <> ''`, ch.Key[0])
	if err != nil {
		return "", err
	}
	if len(rows) == 0 {
		return "", nil
	}
	other := rows[0]
	return fmt.Sprintf("double booking: %v at %v is also booked for %q (booking %v)", other[2], other[3], other[1], other[0]), nil
}
