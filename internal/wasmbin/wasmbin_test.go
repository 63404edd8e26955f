package wasmbin

import (
	"bytes"
	"errors"
	"testing"
)

func TestLEB128(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		bits int
		u    uint64
		s    int64
		err  bool
	}{
		{[]byte{0x00}, 32, 0, 0, false},
		{[]byte{0x7f}, 32, 127, -1, false},
		{[]byte{0xe5, 0x8e, 0x26}, 32, 624485, 624485 - 1<<21, false},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, 32, 1<<32 - 1, -1, false},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0x7f}, 32, 0, -1, true}, // over 32 bits unsigned
		{[]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}, 32, 0, 0, true},
		{[]byte{0x80}, 32, 0, 0, true}, // truncated
	} {
		u, err := (&Reader{B: tc.in}).ULEB(tc.bits)
		if (err != nil) != tc.err || (!tc.err && u != tc.u) {
			t.Errorf("ULEB(% x) = %d, %v; want %d (error %v)", tc.in, u, err, tc.u, tc.err)
		}
	}
	for _, tc := range []struct {
		in []byte
		s  int64
	}{{[]byte{0x7f}, -1}, {[]byte{0x80, 0x7f}, -128}, {[]byte{0x3f}, 63}, {[]byte{0xc0, 0x00}, 64}} {
		if s, err := (&Reader{B: tc.in}).SLEB(32); err != nil || s != tc.s {
			t.Errorf("SLEB(% x) = %d, %v; want %d", tc.in, s, err, tc.s)
		}
	}
	if _, err := (&Reader{B: []byte{0x80, 0x80, 0x80, 0x80, 0x40}}).SLEB(32); err == nil {
		t.Error("a signed value under -2^31 was read as 32 bits")
	}
}

func TestSections(t *testing.T) {
	module := append(bytes.Clone(Header), 0, 4, 3, 'a', 'b', 'c', 1, 1, 0)
	secs, err := Sections(module)
	if err != nil || len(secs) != 2 || secs[0].ID != 0 || string(secs[0].Body) != "\x03abc" || secs[1].ID != 1 {
		t.Fatalf("Sections = %v, %v", secs, err)
	}
	if _, err := Sections(module[:len(module)-1]); !errors.Is(err, ErrTruncated) {
		t.Errorf("a truncated module: %v, want ErrTruncated", err)
	}
	if _, err := Sections([]byte("\x00asm\x02\x00\x00\x00")); err == nil {
		t.Error("version 2 was taken for a module")
	}
}
