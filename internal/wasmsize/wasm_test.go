package main

import (
	"bytes"
	"github.com/hearthdb/hearth/internal/wasmbin"
	"testing"
)

// section frames a section body with its id and LEB128 size.
func section(id byte, body ...byte) []byte {
	return append(append([]byte{id}, uleb(len(body))...), body...)
}

func uleb(n int) []byte {
	var b []byte
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func str(s string) []byte { return append(uleb(len(s)), s...) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// testModule has one imported function, two defined ones (bodies of 3
// and 200 bytes, the second with a two-byte size prefix), a data segment
// at 1000 and a name section naming the defined functions.
func testModule() []byte {
	imports := section(sectionImport, cat(uleb(2),
		str("go"), str("debug"), []byte{0}, uleb(0), // a function
		str("env"), str("mem"), []byte{2, 0}, uleb(1), // a memory
	)...)
	body2 := cat(uleb(199), bytes.Repeat([]byte{0x01}, 198), []byte{0x0b})
	code := section(sectionCode, cat(uleb(2), []byte{2, 0, 0x0b}, body2)...)
	data := section(sectionData, cat(uleb(1), []byte{0, 0x41}, []byte{0xe8, 0x07}, []byte{0x0b}, str("hello"))...)
	names := cat(uleb(2), uleb(1), str("main.small"), uleb(2), str("github.com_x_y.(*T).Big"))
	name := section(sectionCustom, cat(str("name"), []byte{1}, uleb(len(names)), names)...)
	return cat([]byte("\x00asm\x01\x00\x00\x00"), imports, code, data, name)
}

func TestParse(t *testing.T) {
	b := testModule()
	m, err := parse(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Imported != 1 {
		t.Errorf("imported functions: %d, want 1", m.Imported)
	}
	if len(m.Bodies) != 2 || m.Bodies[0] != 3 || m.Bodies[1] != 201 {
		t.Errorf("bodies %v, want [3 201]", m.Bodies)
	}
	if m.Names[1] != "main.small" || m.Names[2] != "github.com_x_y.(*T).Big" {
		t.Errorf("names %v", m.Names)
	}
	if len(m.Segments) != 1 || m.Segments[0].Addr != 1000 || string(m.Segments[0].Data) != "hello" {
		t.Errorf("segments %+v", m.Segments)
	}
	sum := 8
	for _, n := range m.Sections {
		sum += n
	}
	// Each of the four sections has a one-byte id and a size prefix.
	if overhead := m.Size - sum; overhead != 4+1+2+1+1 {
		t.Errorf("section sizes add up to %d of %d bytes", sum, m.Size)
	}
}

func TestParseRejectsTruncation(t *testing.T) {
	b := testModule()
	// Cutting between two sections leaves a shorter valid module; any
	// other cut must be an error, not a panic or a silent misread.
	boundaries := map[int]bool{}
	for off := 8; off < len(b); {
		boundaries[off] = true
		r := wasmbin.Reader{B: b, Off: off + 1}
		size, err := r.U32()
		if err != nil {
			t.Fatal(err)
		}
		off = r.Off + int(size)
	}
	for n := 9; n < len(b); n++ {
		_, err := parse(b[:n])
		if boundaries[n] != (err == nil) {
			t.Errorf("cut at %d of %d (section boundary %v): err %v", n, len(b), boundaries[n], err)
		}
	}
	if _, err := parse([]byte("not wasm")); err == nil {
		t.Fatal("parsed a non-wasm file")
	}
}

func TestPackageOf(t *testing.T) {
	mangled := map[string]string{}
	for _, p := range []string{"runtime", "github.com/ncruces/go-sqlite3", "github.com/ncruces/go-sqlite3-wasm/v6", "internal/runtime/maps"} {
		mangled[linkerName.ReplaceAllString(p, "_")] = p
	}
	for name, want := range map[string]string{
		"runtime.mallocgc": "runtime",
		"github.com_ncruces_go_sqlite3_wasm_v6.__Module_._sqlite3VdbeExec": "github.com/ncruces/go-sqlite3-wasm/v6",
		"github.com_ncruces_go_sqlite3.(*Conn).Exec":                       "github.com/ncruces/go-sqlite3",
		"internal_runtime_maps.(*Map).getWithKey":                          "internal/runtime/maps",
		"type_.eq.[2]interface {}":                                         "(type equality and hash functions)",
		"_rt0_wasm_js":                                                     "(other: _rt0_wasm_js)",
	} {
		if got := packageOf(name, mangled); got != want {
			t.Errorf("packageOf(%q) = %q, want %q", name, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(testModule())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parse(b)
		if err != nil {
			return
		}
		for _, n := range m.Bodies {
			if n <= 0 || n > len(b) {
				t.Fatalf("body size %d in a %d-byte file", n, len(b))
			}
		}
		goDataParts(m.Segments, m.Sections["data"])
	})
}
