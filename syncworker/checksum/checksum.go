// Package checksum fingerprints a synced table's contents, so a client
// and the server can tell cheaply whether they hold the same data.
//
// The fingerprint does not depend on row order or storage layout: each
// row is hashed on its own (FNV-1a over the exact encoding of its values,
// columns in name order) and the row hashes are added up.
package checksum

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strings"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/codec/sqlcodec"
	"github.com/hearthdb/hearth/syncworker/schema"
	"github.com/ncruces/go-sqlite3"
)

// Sum is a table fingerprint.
type Sum struct {
	Rows int64
	Hash uint64
}

// Table fingerprints one table.
func Table(conn *sqlite3.Conn, t *schema.Info) (Sum, error) {
	cols := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = c.Name
	}
	sort.Strings(cols)
	quoted := make([]string, len(cols))
	for i, c := range cols {
		quoted[i] = schema.Quote(c)
	}
	s, _, err := conn.Prepare("SELECT " + strings.Join(quoted, ", ") + " FROM " + schema.Quote(t.Name))
	if err != nil {
		return Sum{}, fmt.Errorf("checksum %s: %w", t.Name, err)
	}
	defer s.Close()
	var header codec.Encoder
	header.Value(cols)
	var sum Sum
	var enc codec.Encoder
	h := fnv.New64a()
	for s.Step() {
		enc.Reset()
		sqlcodec.WriteRow(&enc, s, len(cols))
		h.Reset()
		h.Write(header.Bytes())
		h.Write(enc.Bytes())
		sum.Rows++
		sum.Hash += h.Sum64()
	}
	if err := s.Err(); err != nil {
		return Sum{}, fmt.Errorf("checksum %s: %w", t.Name, err)
	}
	return sum, nil
}

// Tables fingerprints every table except Hearth's own.
func Tables(conn *sqlite3.Conn, tables []*schema.Info) (map[string]Sum, error) {
	out := make(map[string]Sum, len(tables))
	for _, t := range tables {
		if strings.HasPrefix(t.Name, schema.ReservedPrefix) {
			continue
		}
		s, err := Table(conn, t)
		if err != nil {
			return nil, err
		}
		out[t.Name] = s
	}
	return out, nil
}
