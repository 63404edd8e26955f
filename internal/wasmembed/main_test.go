package main

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/hearthdb/hearth/internal/wasmbin"
)

// A module with one custom section gets a second one at its end, whole
// and readable by name; the same name twice, or a file that is not a
// module, is refused.
func TestAppendSection(t *testing.T) {
	module := append(bytes.Clone(wasmbin.Header), 0, 4, 3, 'a', 'b', 'c') // custom section "abc", empty
	out, err := appendSection(module, "hearth.sqlite", []byte("payload"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(out, module) {
		t.Fatal("the module's own bytes changed")
	}
	tail := out[len(module):]
	if tail[0] != 0 {
		t.Fatalf("section id %d, want 0 (custom)", tail[0])
	}
	size, n := binary.Uvarint(tail[1:])
	body := tail[1+n:]
	if uint64(len(body)) != size {
		t.Fatalf("section size %d, body %d bytes", size, len(body))
	}
	if want := append([]byte{13}, "hearth.sqlitepayload"...); !bytes.Equal(body, want) {
		t.Fatalf("section body %q, want %q", body, want)
	}
	if _, err := appendSection(out, "hearth.sqlite", nil); err == nil {
		t.Error("a second hearth.sqlite section was appended")
	}
	if _, err := appendSection([]byte("not wasm"), "x", nil); err == nil {
		t.Error("a file that is not wasm was accepted")
	}
	if _, err := appendSection(append(bytes.Clone(wasmbin.Header), 1, 9, 0), "x", nil); err == nil {
		t.Error("a truncated module was accepted")
	}
}
