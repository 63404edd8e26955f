package store

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/hearthdb/hearth/syncworker/hlc"
)

// TestViolationTextIsValid: the violation row of a change from a client
// whose id and table name are not valid text holds valid text, on every
// store alike, with the row key kept as sent.
func TestViolationTextIsValid(t *testing.T) {
	rowKey, err := change.EncodeKey("r\x00w")
	if err != nil {
		t.Fatal(err)
	}
	p := &Push{Client: "dev\xff\x00ice", Stamp: func() hlc.Stamp { return hlc.Stamp{TS: 7, Node: "server"} }}
	c := &Pushed{Seq: 3, Change: change.Change{Table: "ta\x00ble", Key: rowKey}}
	v, err := violation(p, c, "bad \xfe message", 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"tbl", "client", "message"} {
		if s := v.Values[k].(string); !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			t.Errorf("%s = %q, not valid text", k, s)
		}
	}
	key, err := change.DecodeKey(v.Key)
	if err != nil || len(key) != 1 || key[0] != "dev\uFFFD\uFFFDice:3" {
		t.Errorf("violation key %v, %v", key, err)
	}
	if string(v.Values["row_key"].([]byte)) != string(rowKey) || v.Values["seq"] != int64(3) || v.Schema != 2 || v.Values["at"] != int64(7) {
		t.Errorf("violation %+v", v)
	}
}
