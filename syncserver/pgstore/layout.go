package pgstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/jackc/pgx/v5"
)

// Where Hearth's tables live, and how the store makes sure it only ever
// alters what it created.
//
// Everything the store creates is in its own PostgreSQL schema (see
// WithSchema). The schema's _hearth_tables registry is the marker: it
// lists the app tables the store created, and the store alters, adds
// triggers to or drops indexes of those only. A schema that exists
// without the registry is the store's only while it is empty (an
// operator may create it beforehand, to grant rights on it).

// Codes of the errors Open returns for a database it will not take over.
// They are stable: tooling may match them.
const (
	// CodeLegacyLayout: the database holds a store laid out by an older
	// version, its tables beside the app's (usually in public).
	CodeLegacyLayout = "PG_LEGACY_LAYOUT"
	// CodeForeignSchema: the schema exists, holds tables, and is not one
	// the store created.
	CodeForeignSchema = "PG_FOREIGN_SCHEMA"
	// CodeForeignTable: a table the app's schema declares exists in the
	// store's schema but the store did not create it.
	CodeForeignTable = "PG_FOREIGN_TABLE"
)

// LayoutError is why Open will not take a database over. Nothing was
// changed when it is returned.
type LayoutError struct{ Code, Message string }

func (e *LayoutError) Error() string { return e.Code + ": " + e.Message }

// layoutDDL creates the registry and the external-write machinery (see
// external.go) in the schema, which is on the search path. The trigger
// functions are SECURITY DEFINER, so another program needs rights on the
// synced tables only, not on the inbox; they pin search_path (so a caller
// cannot redirect the inbox) and the output settings to_jsonb depends on
// (so every float8 reads back exactly and bytea always as hex). Being
// SECURITY DEFINER, the capture function must not be usable on other
// tables, which would let their writers fill the inbox: EXECUTE is not
// granted (PostgreSQL checks it when a trigger is created) and it refuses
// a table outside the schema.
const layoutDDL = `
CREATE TABLE IF NOT EXISTS _hearth_tables(name text PRIMARY KEY);
CREATE TABLE IF NOT EXISTS _hearth_inbox(
	id bigserial PRIMARY KEY,
	tbl text NOT NULL,
	op text NOT NULL,
	old jsonb,
	new jsonb
);
CREATE OR REPLACE FUNCTION _hearth_external_lock() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
	PERFORM pg_advisory_xact_lock(%[1]d);
	RETURN NULL;
END $f$;
CREATE OR REPLACE FUNCTION _hearth_external_row() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp SET extra_float_digits = 3 SET bytea_output = 'hex' AS $f$
BEGIN
	IF TG_TABLE_SCHEMA <> %[4]s THEN
		RAISE EXCEPTION 'HEARTH_CAPTURE: %% is not a table Hearth syncs', TG_TABLE_NAME;
	END IF;
	INSERT INTO %[2]s._hearth_inbox(tbl, op, old, new) VALUES (TG_TABLE_NAME, TG_OP,
		CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END,
		CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END);
	PERFORM pg_notify(%[3]s, '');
	RETURN NULL;
END $f$;
REVOKE ALL ON FUNCTION _hearth_external_row() FROM PUBLIC;
CREATE OR REPLACE FUNCTION _hearth_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
	RAISE EXCEPTION 'HEARTH_TRUNCATE: TRUNCATE of %%.%% would bypass sync; DELETE its rows instead', TG_TABLE_SCHEMA, TG_TABLE_NAME
		USING ERRCODE = 'feature_not_supported';
END $f$;
`

// writerSetting is the transaction setting that marks Hearth's own
// writes: the capture triggers skip a transaction that set it to "on"
// (SET LOCAL, so it ends with the transaction, and pooled connections
// never carry it over). A custom setting in Hearth's namespace is set
// only on purpose; session_replication_role would need superuser and
// would switch off the app's own triggers and foreign keys as well.
const writerSetting = "hearth.writer"

// notWriter is the triggers' WHEN condition: not one of Hearth's writes.
const notWriter = `current_setting('` + writerSetting + `', true) IS DISTINCT FROM 'on'`

// claimSchema makes sure the store's schema is its own, or can be, and
// creates it. It runs under the write lock in Open's transaction.
func (s *Store) claimSchema(ctx context.Context, tx pgx.Tx) error {
	var exists, registered bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1), to_regclass($2) IS NOT NULL`,
		s.schema, schema.Quote(s.schema)+"._hearth_tables").Scan(&exists, &registered); err != nil {
		return err
	}
	if registered {
		return nil
	}
	// A store laid out by an older version: _hearth_server without the
	// registry, in whichever schema (usually public).
	rows, err := tx.Query(ctx, `SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.relname = '_hearth_server' AND c.relkind = 'r'
		AND NOT EXISTS (SELECT 1 FROM pg_class r WHERE r.relnamespace = n.oid AND r.relname = '_hearth_tables')
		ORDER BY 1`)
	if err != nil {
		return err
	}
	legacy, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if len(legacy) > 0 {
		return &LayoutError{Code: CodeLegacyLayout, Message: fmt.Sprintf(
			"the database holds a Hearth store laid out by an older version in schema %q, beside the app's tables; "+
				"this version keeps its tables in a schema of their own (%q) and does not adopt tables it did not create. "+
				"Move the store there (see OPERATIONS.md, \"Moving a store out of public\") or start on an empty schema", legacy[0], s.schema)}
	}
	if exists {
		rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE n.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY 1 LIMIT 3`, s.schema)
		if err != nil {
			return err
		}
		names, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if len(names) > 0 {
			return &LayoutError{Code: CodeForeignSchema, Message: fmt.Sprintf(
				"schema %q already holds tables Hearth did not create (%s); name another schema for Hearth (an empty or new one)",
				s.schema, strings.Join(names, ", "))}
		}
	}
	_, err = tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+schema.Quote(s.schema)+"; COMMENT ON SCHEMA "+schema.Quote(s.schema)+
		" IS 'Hearth sync store: its tables are created and altered by hearth serve only'")
	return err
}

// checkOwnership refuses tables the app declares that exist in the
// schema but that the store did not create.
func checkOwnership(ctx context.Context, tx pgx.Tx, schemaName string, shapes []*tableShape) error {
	names := make([]string, len(shapes))
	for i, sh := range shapes {
		names[i] = sh.info.Name
	}
	rows, err := tx.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = $1 AND c.relname = ANY($2)
		AND NOT EXISTS (SELECT 1 FROM _hearth_tables t WHERE t.name = c.relname) ORDER BY 1`, schemaName, names)
	if err != nil {
		return err
	}
	foreign, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	if len(foreign) > 0 {
		return &LayoutError{Code: CodeForeignTable, Message: fmt.Sprintf(
			"table %q exists in schema %q but Hearth did not create it (it is not in %s._hearth_tables); "+
				"Hearth never alters a table it did not create: drop or move that table, or name another schema for Hearth",
			foreign[0], schemaName, schemaName)}
	}
	return nil
}

// installTriggers puts the external-write triggers on a table the store
// created (see external.go). CREATE OR REPLACE keeps reopening cheap and
// idempotent.
func installTriggers(ctx context.Context, tx pgx.Tx, table string) error {
	t := schema.Quote(table)
	_, err := tx.Exec(ctx, `CREATE OR REPLACE TRIGGER _hearth_lock BEFORE INSERT OR UPDATE OR DELETE ON `+t+
		` FOR EACH STATEMENT WHEN (`+notWriter+`) EXECUTE FUNCTION _hearth_external_lock();
		CREATE OR REPLACE TRIGGER _hearth_capture AFTER INSERT OR UPDATE OR DELETE ON `+t+
		` FOR EACH ROW WHEN (`+notWriter+`) EXECUTE FUNCTION _hearth_external_row();
		CREATE OR REPLACE TRIGGER _hearth_no_truncate BEFORE TRUNCATE ON `+t+
		` FOR EACH STATEMENT EXECUTE FUNCTION _hearth_refuse_truncate()`)
	return err
}

// registerTable records that the store created a table.
func registerTable(ctx context.Context, tx pgx.Tx, table string) error {
	_, err := tx.Exec(ctx, `INSERT INTO _hearth_tables(name) VALUES ($1) ON CONFLICT DO NOTHING`, table)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, "COMMENT ON TABLE "+schema.Quote(table)+" IS "+schema.Literal("Synced by Hearth: created and altered by hearth serve only; write rows freely, do not ALTER or TRUNCATE"))
	return err
}
