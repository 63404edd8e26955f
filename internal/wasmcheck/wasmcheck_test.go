package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// section encodes one section (contents under 128 bytes, so that its size
// is one LEB128 byte).
func section(id byte, content ...byte) []byte {
	return append([]byte{id, byte(len(content))}, content...)
}

func str(s string) []byte { return append([]byte{byte(len(s))}, s...) }

// sideModule builds a module that imports env.memory, has a dylink.0
// section unless plain, exports its one function as "f" and has body as
// that function's code (after its locals, before end).
func sideModule(plain bool, body ...byte) []byte {
	m := []byte("\x00asm\x01\x00\x00\x00")
	if !plain {
		m = append(m, section(0, str("dylink.0")...)...)
	}
	m = append(m, section(1, 1, 0x60, 0, 0)...) // one type: () -> ()
	imp := append([]byte{1}, str("env")...)
	imp = append(imp, str("memory")...)
	imp = append(imp, kindMemory, 0, 1)
	m = append(m, section(2, imp...)...)
	m = append(m, section(3, 1, 0)...) // one function of type 0
	exp := append([]byte{1}, str("f")...)
	m = append(m, section(7, append(exp, kindFunc, 0)...)...)
	code := append([]byte{0}, body...) // no locals
	code = append(code, 0x0b)
	m = append(m, section(10, append([]byte{1, byte(len(code))}, code...)...)...)
	return m
}

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		name   string
		module []byte
		want   []string
		absent []string
		bad    []string // problems expected, by substring
	}{
		{name: "ok", module: sideModule(false, 0x41, 0x7f, 0x1a), want: []string{"f"}},
		{
			name: "block types, memory.size, bulk memory and a call_indirect",
			// block (result i32) i32.const 0 end drop; memory.size drop;
			// i32.const 0 ×3 memory.fill; loop end; i32.const 0 call_indirect 0 0
			module: sideModule(false, 0x02, 0x7f, 0x41, 0x00, 0x0b, 0x1a, 0x3f, 0x00, 0x1a,
				0x41, 0, 0x41, 0, 0x41, 0, 0xfc, 11, 0, 0x03, 0x40, 0x0b, 0x41, 0, 0x11, 0, 0),
			want: []string{"f"},
		},
		{
			name: "memory.grow",
			// i32.const 64 (0x40 as an immediate is not the instruction), memory.grow 0, drop
			module: sideModule(false, 0x41, 0x40, 0x1a, 0x41, 0x01, 0x40, 0x00, 0x1a),
			want:   []string{"f"},
			bad:    []string{"function 0 runs memory.grow"},
		},
		{name: "missing export", module: sideModule(false), want: []string{"f", "g"}, bad: []string{"does not export g"}},
		{name: "absent allowed", module: sideModule(false), want: []string{"f", "g"}, absent: []string{"g"}},
		{name: "not a side module", module: sideModule(true), want: []string{"f"}, bad: []string{"no dylink.0"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			problems, err := check(c.module, c.want, c.absent)
			if err != nil {
				t.Fatal(err)
			}
			if len(problems) != len(c.bad) {
				t.Fatalf("problems %q, want %d matching %q", problems, len(c.bad), c.bad)
			}
			for i, p := range problems {
				if !strings.Contains(p, c.bad[i]) {
					t.Errorf("problem %q, want one with %q", p, c.bad[i])
				}
			}
		})
	}
}

func TestUnknownOpcode(t *testing.T) {
	// A SIMD instruction (0xfd): the module is not built with SIMD, and
	// guessing its length would misread the rest of the function.
	if _, err := check(sideModule(false, 0xfd, 0x0c), []string{"f"}, nil); err == nil || !strings.Contains(err.Error(), "unknown opcode 0xfd") {
		t.Fatalf("err = %v, want an unknown opcode", err)
	}
	// f64.const with 2 of its 8 bytes before the function ends.
	if _, err := check(sideModule(false, 0x44, 0), []string{"f"}, nil); err == nil {
		t.Fatal("a truncated f64.const decoded")
	}
}

// TestBuiltModule checks the module make sqlite-module built, when there
// is one (the build needs clang-19; this test does not build it).
func TestBuiltModule(t *testing.T) {
	dir := filepath.Join("..", "..", "build", "sqlite-module")
	bin, err := os.ReadFile(filepath.Join(dir, "sqlite3.wasm"))
	if os.IsNotExist(err) {
		t.Skip("no build/sqlite-module/sqlite3.wasm (make sqlite-module)")
	}
	if err != nil {
		t.Fatal(err)
	}
	list, err := os.ReadFile(filepath.Join(dir, "src", "exports.txt"))
	if err != nil {
		t.Fatal(err)
	}
	problems, err := check(bin, strings.Fields(string(list)), []string{"__stack_pointer", "main_mptest", "main_speedtest1"})
	if err != nil || len(problems) > 0 {
		t.Fatalf("problems %q, err %v", problems, err)
	}
}
