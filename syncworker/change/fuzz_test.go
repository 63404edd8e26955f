package change

import (
	"bytes"
	"math"
	"testing"
)

// FuzzDecodeKey feeds DecodeKey row keys as a client could push them. A
// key it accepts must be the one EncodeKey makes for its values: stores
// tell rows apart by key bytes while SQLite tells them apart by values,
// so a second encoding of the same values would split one row in two.
func FuzzDecodeKey(f *testing.F) {
	for _, k := range [][]any{
		{"t1"},
		{int64(7)},
		{int64(math.MaxInt64), "a\x00b"},
		{[]byte{0, 1, 2}, 1.5, nil},
		{math.NaN()},
	} {
		b, err := EncodeKey(k...)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, key []byte) {
		values, err := DecodeKey(key)
		if err != nil {
			return
		}
		if len(values) == 0 {
			t.Fatalf("%x: decoded an empty key", key)
		}
		again, err := EncodeKey(values...)
		if err != nil {
			t.Fatalf("%x: decoded %#v, which does not encode: %v", key, values, err)
		}
		if !bytes.Equal(again, key) {
			t.Fatalf("%x: decoded %#v, which encodes as %x", key, values, again)
		}
	})
}
