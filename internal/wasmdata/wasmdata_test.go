package wasmdata

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/hearthdb/hearth/internal/wasmbin"
)

// module is a wasm binary with a type section stand-in and a data section
// holding body.
func module(dataBody []byte, extra ...byte) []byte {
	bin := append([]byte(nil), wasmbin.Header...)
	bin = append(bin, 1, 3, 'x', 'y', 'z') // any section before data, kept as it is
	bin = append(bin, extra...)
	bin = append(bin, sectionData)
	bin = binary.AppendUvarint(bin, uint64(len(dataBody)))
	return append(bin, dataBody...)
}

// image is the memory the segments leave behind: address to non-zero byte.
func image(segs []Segment) map[uint64]byte {
	m := map[uint64]byte{}
	for _, s := range segs {
		for i, b := range s.Data {
			if b != 0 {
				m[uint64(s.Addr)+uint64(i)] = b
			} else {
				delete(m, uint64(s.Addr)+uint64(i))
			}
		}
	}
	return m
}

func TestPackMergesNearSegmentsAndKeepsMemory(t *testing.T) {
	segs := []Segment{
		{Addr: 70000, Data: []byte("far")}, // out of order, as a linker may write them
		{Addr: 4096, Data: []byte("abc")},
		{Addr: 4096 + 3 + 9, Data: []byte("def\x00g")}, // 9 zeros after "abc"
		{Addr: 4096 + 3 + 9 + 5 + 100, Data: []byte("h")},
		{Addr: 1 << 31, Data: []byte("high")}, // an address whose i32.const is negative
	}
	bin := module(Append(nil, segs))
	packed, st, err := Pack(bin, 100)
	if err != nil {
		t.Fatal(err)
	}
	if st.SegmentsBefore != 5 || st.SegmentsAfter != 3 {
		t.Errorf("segments %d -> %d, want 5 -> 3", st.SegmentsBefore, st.SegmentsAfter)
	}
	sections, err := wasmbin.Sections(packed)
	if err != nil {
		t.Fatal(err)
	}
	if len(sections) != 2 || sections[0].ID != 1 || string(sections[0].Body) != "xyz" || sections[1].ID != sectionData {
		t.Fatalf("sections %+v", sections)
	}
	got, other, err := Read(sections[1].Body)
	if err != nil || other != 0 {
		t.Fatalf("Read: %v, %d others", err, other)
	}
	if len(got) != 3 || got[0].Addr != 4096 || got[1].Addr != 70000 || got[2].Addr != 1<<31 {
		t.Fatalf("merged %+v", got)
	}
	if want := "abc" + strings.Repeat("\x00", 9) + "def\x00g" + strings.Repeat("\x00", 100) + "h"; string(got[0].Data) != want {
		t.Errorf("merged data %q, want %q", got[0].Data, want)
	}
	before, after := image(segs), image(got)
	if len(before) != len(after) {
		t.Fatalf("memory has %d non-zero bytes after, %d before", len(after), len(before))
	}
	for a, b := range before {
		if after[a] != b {
			t.Errorf("memory at %d: %q after, %q before", a, after[a], b)
		}
	}
	again, st2, err := Pack(packed, 100)
	if err != nil || !bytes.Equal(again, packed) || st2.SegmentsAfter != 3 {
		t.Errorf("packing twice changed the module (%v, %+v)", err, st2)
	}
}

func TestMergeRefusesOverlaps(t *testing.T) {
	if _, err := Merge([]Segment{{Addr: 10, Data: []byte("abcd")}, {Addr: 12, Data: []byte("x")}}, 8); err == nil {
		t.Error("overlapping segments merged")
	}
}

func TestPackRefusesWhatItCannotRewrite(t *testing.T) {
	passive := binary.AppendUvarint(nil, 1)
	passive = append(passive, 1, 2, 'h', 'i') // flags 1: passive, 2 bytes
	global := binary.AppendUvarint(nil, 1)
	global = append(global, 0, 0x23, 0, 0x0b, 1, 'z') // address from global 0
	for name, bin := range map[string][]byte{
		"passive segment":    module(passive),
		"computed address":   module(global),
		"data count section": module(Append(nil, nil), sectionDataCount, 1, 0),
		"no data section":    wasmbin.Header,
		"truncated segment":  module([]byte{1, 0, 0x41, 0, 0x0b, 5, 'a'}),
	} {
		if _, _, err := Pack(bin, 8); err == nil {
			t.Errorf("%s: packed", name)
		}
	}
	if segs, other, err := Read(global); err != nil || other != 1 || len(segs) != 0 {
		t.Errorf("Read of a computed address: %v, %d others, %d segments", err, other, len(segs))
	}
}
