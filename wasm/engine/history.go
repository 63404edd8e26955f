package engine

import (
	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncworker/appschema"
	"github.com/hearthdb/hearth/syncworker/history"
	"github.com/hearthdb/hearth/syncworker/journal"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/hearthdb/hearth/wasm/protocol"
)

// history answers OpHistory: one row's fields with their winning writes,
// its lost values and its journal (syncworker/history), as
// {table, key, exists, inserted, deleted, fields, lost, journal}. On a
// database that does not sync, only the values are known.
func (e *Engine) history(db *database, req protocol.Request, enc *codec.Encoder) error {
	table, key, perr := rowOf(req)
	if perr != nil {
		return perr
	}
	decl := appschema.Table{Name: table}
	var j *journal.Journal
	if db.sync != nil {
		j = db.sync.journal
		found := false
		for _, t := range j.Tables() {
			if t.Name == table {
				decl, found = t, true
			}
		}
		if !found {
			j = nil // not synced: no merge metadata to read
		}
	}
	conn := db.conn.db
	info, err := schema.Describe(conn, decl)
	if err != nil {
		return protocol.Errorf(protocol.CodeNotFound, "history: %v", err)
	}
	row, err := history.Read(conn, info, j, key)
	if err != nil {
		return protocol.Errorf(protocol.CodeBadRequest, "%v", err)
	}
	protocol.EncodeOKHeader(enc, req.ID)
	return encodeHistory(enc, row)
}

// rowOf reads the row a request names: its table and the primary key's
// values (history, editText).
func rowOf(req protocol.Request) (string, []any, *protocol.Error) {
	table, perr := req.Text("table")
	if perr != nil {
		return "", nil, perr
	}
	key, ok := req.Fields["key"].([]any)
	if !ok {
		return "", nil, protocol.Errorf(protocol.CodeBadRequest, "op %q needs array field \"key\" (the primary key's values), got %s", req.Op, codec.TypeName(req.Fields["key"]))
	}
	return table, key, nil
}

func encodeStamp(enc *codec.Encoder, s *history.Stamp) {
	if s == nil {
		enc.Null()
		return
	}
	m := enc.BeginMap()
	m.Key("hlc")
	enc.Int(s.HLC)
	m.Key("at")
	enc.Int(s.At.UnixMilli())
	m.Key("node")
	enc.Text(s.Node)
	m.End()
}

func encodeHistory(enc *codec.Encoder, row history.Row) error {
	m := enc.BeginMap()
	m.Key("table")
	enc.Text(row.Table)
	m.Key("key")
	enc.Array(len(row.Key))
	for _, v := range row.Key {
		if err := enc.Value(v); err != nil {
			return err
		}
	}
	m.Key("exists")
	enc.Bool(row.Exists)
	m.Key("inserted")
	encodeStamp(enc, row.Inserted)
	m.Key("deleted")
	encodeStamp(enc, row.Deleted)
	m.Key("fields")
	enc.Array(len(row.Fields))
	for _, f := range row.Fields {
		fm := enc.BeginMap()
		fm.Key("column")
		enc.Text(f.Column)
		fm.Key("value")
		if err := enc.Value(f.Value); err != nil {
			return err
		}
		fm.Key("writer")
		encodeStamp(enc, f.Writer)
		fm.Key("byInsert")
		enc.Bool(f.ByInsert)
		fm.Key("merged")
		enc.Bool(f.Merged)
		fm.End()
	}
	m.Key("lost")
	enc.Array(len(row.Lost))
	for _, l := range row.Lost {
		lm := enc.BeginMap()
		lm.Key("column")
		enc.Text(l.Column)
		lm.Key("value")
		if err := enc.Value(l.Value); err != nil {
			return err
		}
		lm.Key("writer")
		encodeStamp(enc, &l.Writer)
		lm.Key("lostTo")
		encodeStamp(enc, &l.LostTo)
		lm.Key("lostToOp")
		enc.Text(l.LostToOp)
		lm.Key("recordedAt")
		enc.Int(l.Recorded.UnixMilli())
		lm.End()
	}
	m.Key("journal")
	enc.Array(len(row.Journal))
	for _, e := range row.Journal {
		em := enc.BeginMap()
		em.Key("seq")
		enc.Int(e.Seq)
		em.Key("op")
		enc.Text(e.Op)
		em.Key("state")
		enc.Text(e.State)
		em.Key("code")
		enc.Text(e.Code)
		em.Key("detail")
		enc.Text(e.Detail)
		em.Key("stamp")
		encodeStamp(enc, &e.Stamp)
		em.Key("values")
		if err := enc.Value(e.Values); err != nil {
			return err
		}
		if e.QuarantineID != 0 {
			em.Key("quarantineId")
			enc.Int(e.QuarantineID)
			em.Key("direction")
			enc.Text(e.Direction)
		}
		em.End()
	}
	m.End()
	return nil
}
