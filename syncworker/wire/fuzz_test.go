package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode feeds Decode what a hostile peer could send: every server
// session decodes each client frame with it. Decoding must not panic,
// must fail only with ErrMalformed or ErrVersion, and whatever it accepts
// must encode to a frame that decodes to the same message, so a message
// the server relays or answers with is the one it understood.
//
// The first decode may normalise (a delete's values are dropped on
// encoding, an absent optional field reads as zero), so the property is
// that encoding is stable from there: the bytes of encode(decode(x)) and
// of encode(decode(encode(decode(x)))) are equal.
func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages(f) {
		b, err := Encode(m, 2)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		first, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrVersion) {
				t.Fatalf("error wraps neither ErrMalformed nor ErrVersion: %v", err)
			}
			return
		}
		encoded, err := Encode(first.Msg, first.Schema)
		if err != nil {
			t.Fatalf("decoded %#v but cannot encode it: %v", first.Msg, err)
		}
		second, err := Decode(encoded)
		if err != nil {
			t.Fatalf("decoded %#v, encoded it as %x, which does not decode: %v", first.Msg, encoded, err)
		}
		if second.Schema != first.Schema || Type(second.Msg) != Type(first.Msg) {
			t.Fatalf("round trip changed the frame: %#v to %#v", first, second)
		}
		if _, ok := first.Msg.(Checksums); ok {
			// Tables is a map, encoded in iteration order; it holds no
			// floats, so DeepEqual compares it exactly.
			if !reflect.DeepEqual(first, second) {
				t.Fatalf("round trip changed the frame: %#v to %#v", first, second)
			}
			return
		}
		again, err := Encode(second.Msg, second.Schema)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(encoded, again) {
			t.Fatalf("%#v encodes as %x, its round trip %#v as %x", first.Msg, encoded, second.Msg, again)
		}
	})
}
