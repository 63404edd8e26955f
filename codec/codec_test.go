package codec

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"strconv"
	"testing"
)

// vectors.json is shared with web/protocol.test.mjs: both codecs must agree
// byte for byte.
type vectorFile struct {
	Valid []struct {
		Name  string          `json:"name"`
		Value json.RawMessage `json:"value"`
		Hex   string          `json:"hex"`
	} `json:"valid"`
	Invalid []struct {
		Name string `json:"name"`
		Hex  string `json:"hex"`
	} `json:"invalid"`
}

// typed converts the vectors' typed JSON ({"int":"5"}, {"blob":"00ff"}, …)
// into the Go values the decoder produces.
func typed(t *testing.T, raw json.RawMessage) any {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || len(m) != 1 {
		t.Fatalf("bad vector value %s", raw)
	}
	for k, v := range m {
		switch k {
		case "null":
			return nil
		case "bool":
			return string(v) == "true"
		case "int":
			var s string
			json.Unmarshal(v, &s)
			i, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return i
		case "float":
			var s string
			if json.Unmarshal(v, &s) == nil {
				switch s {
				case "NaN":
					return math.NaN()
				case "Infinity":
					return math.Inf(1)
				case "-Infinity":
					return math.Inf(-1)
				case "-0":
					return math.Copysign(0, -1)
				}
			}
			var f float64
			json.Unmarshal(v, &f)
			return f
		case "text":
			var s string
			json.Unmarshal(v, &s)
			return s
		case "blob":
			var s string
			json.Unmarshal(v, &s)
			b, _ := hex.DecodeString(s)
			return b
		case "array":
			var items []json.RawMessage
			json.Unmarshal(v, &items)
			arr := make([]any, len(items))
			for i, it := range items {
				arr[i] = typed(t, it)
			}
			return arr
		case "map":
			var pairs [][2]json.RawMessage
			json.Unmarshal(v, &pairs)
			out := make(map[string]any, len(pairs))
			for _, p := range pairs {
				var key string
				json.Unmarshal(p[0], &key)
				out[key] = typed(t, p[1])
			}
			return out
		}
	}
	t.Fatalf("unknown vector type in %s", raw)
	return nil
}

func loadVectors(t *testing.T) vectorFile {
	data, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vf vectorFile
	if err := json.Unmarshal(data, &vf); err != nil {
		t.Fatal(err)
	}
	return vf
}

// same compares decoded values, treating NaN as equal to NaN and telling
// -0 from +0.
func same(a, b any) bool {
	if fa, ok := a.(float64); ok {
		fb, ok := b.(float64)
		return ok && math.Float64bits(fa) == math.Float64bits(fb) || ok && math.IsNaN(fa) && math.IsNaN(fb)
	}
	if ba, ok := a.([]byte); ok {
		bb, ok := b.([]byte)
		return ok && bytes.Equal(ba, bb)
	}
	if aa, ok := a.([]any); ok {
		ab, ok := b.([]any)
		if !ok || len(aa) != len(ab) {
			return false
		}
		for i := range aa {
			if !same(aa[i], ab[i]) {
				return false
			}
		}
		return true
	}
	if ma, ok := a.(map[string]any); ok {
		mb, ok := b.(map[string]any)
		if !ok || len(ma) != len(mb) {
			return false
		}
		for k := range ma {
			if !same(ma[k], mb[k]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func TestVectorsDecode(t *testing.T) {
	for _, v := range loadVectors(t).Valid {
		msg, _ := hex.DecodeString(v.Hex)
		got, err := Decode(msg)
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		if want := typed(t, v.Value); !same(got, want) {
			t.Errorf("%s: decoded %#v, want %#v", v.Name, got, want)
		}
	}
}

func TestVectorsEncode(t *testing.T) {
	for _, v := range loadVectors(t).Valid {
		want := typed(t, v.Value)
		got, err := Encode(want)
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		if _, isMap := want.(map[string]any); isMap && len(want.(map[string]any)) > 1 {
			// Go maps have no order: compare by decoding instead of bytes.
			back, err := Decode(got)
			if err != nil || !same(back, want) {
				t.Errorf("%s: round trip gave %#v, %v", v.Name, back, err)
			}
			continue
		}
		if hex.EncodeToString(got) != v.Hex {
			t.Errorf("%s: encoded %x, want %s", v.Name, got, v.Hex)
		}
	}
}

func TestVectorsInvalid(t *testing.T) {
	for _, v := range loadVectors(t).Invalid {
		msg, _ := hex.DecodeString(v.Hex)
		if got, err := Decode(msg); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: decoded %#v, %v; want ErrMalformed", v.Name, got, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, seed := range [][]byte{{0}, {0x08, 1, 0, 0, 0, 0}, {0x09, 1, 0, 0, 0, 1, 0, 0, 0, 'a', 0x03, 1, 2, 3, 4}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		v, err := Decode(msg)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to something that decodes the same.
		again, err := Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		w, err := Decode(again)
		if err != nil || !same(v, w) {
			t.Fatalf("%x: re-decoded %v, %v", msg, w, err)
		}
	})
}

func BenchmarkEncodeRows(b *testing.B) {
	var e Encoder
	for b.Loop() {
		e.Reset()
		e.Array(500)
		for i := range 500 {
			e.Array(5)
			e.Text(fmt.Sprintf("task-%05d", i))
			e.Text("Write the quarterly report")
			e.Text("todo")
			e.Text("project-07")
			e.Float(float64(i) * 1.5)
		}
	}
}

// Reuse writes from the start of the storage it is given: what was there
// is overwritten, and a buffer with room is not grown.
func TestEncoderReuse(t *testing.T) {
	var first Encoder
	first.Text("old contents")
	buf := first.Bytes()
	var enc Encoder
	enc.Reuse(buf)
	enc.Int(7)
	out := enc.Bytes()
	if &out[0] != &buf[0] {
		t.Fatal("Reuse did not write into the given storage")
	}
	var want Encoder
	want.Int(7)
	if string(out) != string(want.Bytes()) {
		t.Fatalf("Reuse kept old bytes: % x, want % x", out, want.Bytes())
	}
}
