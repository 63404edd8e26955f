// Package sqlcodec writes SQLite values with Hearth's wire codec
// (package codec), straight from SQLite's memory. The worker's query
// results, the sync journal's keys and the sync checksums all use it, so a
// value encodes to the same bytes everywhere.
package sqlcodec

import (
	"github.com/hearthdb/hearth/codec"
	"github.com/ncruces/go-sqlite3"
)

// WriteRow encodes the statement's current row as an array of its n columns.
func WriteRow(enc *codec.Encoder, s *sqlite3.Stmt, n int) {
	enc.Array(n)
	for i := range n {
		switch s.ColumnType(i) {
		case sqlite3.INTEGER:
			enc.Int(s.ColumnInt64(i))
		case sqlite3.FLOAT:
			enc.Float(s.ColumnFloat(i))
		case sqlite3.TEXT:
			enc.TextBytes(s.ColumnRawText(i))
		case sqlite3.BLOB:
			enc.Blob(s.ColumnRawBlob(i))
		default:
			enc.Null()
		}
	}
}

// WriteValue encodes one value passed to an SQL function.
func WriteValue(enc *codec.Encoder, v sqlite3.Value) {
	switch v.Type() {
	case sqlite3.INTEGER:
		enc.Int(v.Int64())
	case sqlite3.FLOAT:
		enc.Float(v.Float())
	case sqlite3.TEXT:
		enc.TextBytes(v.RawText())
	case sqlite3.BLOB:
		enc.Blob(v.RawBlob())
	default:
		enc.Null()
	}
}
