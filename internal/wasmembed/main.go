// Command wasmembed appends a file to a wasm module as a custom section:
//
//	go run ./internal/wasmembed -section hearth.sqlite -from SQLITE.wasm WORKER.wasm
//
// The worker built with SQLite as its own module (docs/sqlite-module.md)
// carries that module inside its own wasm this way, so that an app still
// loads one wasm file: the npm package, a bundler's asset handling, a
// service worker's cache and the server's content-hashed copy all see the
// one file they saw before. The loader reads the section back with
// WebAssembly.Module.customSections once Go's module has compiled
// (web/hearth-worker-wasm.js). An engine ignores custom sections, so the
// module stays valid; a section of the same name already there is an
// error (the build appends to a fresh go build output).
package main

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"

	"github.com/hearthdb/hearth/internal/wasmbin"
)

func main() {
	section := flag.String("section", "", "the custom section's name")
	from := flag.String("from", "", "the file whose bytes the section holds")
	flag.Parse()
	if flag.NArg() != 1 || *section == "" || *from == "" {
		fmt.Fprintln(os.Stderr, "usage: wasmembed -section NAME -from FILE MODULE.wasm")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *section, *from); err != nil {
		fmt.Fprintln(os.Stderr, "wasmembed:", err)
		os.Exit(1)
	}
}

func run(module, section, from string) error {
	bin, err := os.ReadFile(module)
	if err != nil {
		return err
	}
	payload, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	out, err := appendSection(bin, section, payload)
	if err != nil {
		return fmt.Errorf("%s: %w", module, err)
	}
	return wasmbin.WriteFile(module, out)
}

// appendSection returns bin with a custom section (id 0) named name and
// holding payload at its end, once bin has been read as a whole module
// without such a section already.
func appendSection(bin []byte, name string, payload []byte) ([]byte, error) {
	sections, err := wasmbin.Sections(bin)
	if err != nil {
		return nil, err
	}
	for _, s := range sections {
		if s.ID != 0 {
			continue
		}
		if got, err := (&wasmbin.Reader{B: s.Body}).Name(); err == nil && got == name {
			return nil, fmt.Errorf("it has a %q section already", name)
		}
	}
	var sec []byte
	sec = binary.AppendUvarint(sec, uint64(len(name)))
	sec = append(sec, name...)
	sec = append(sec, payload...)
	out := append(bytes.Clone(bin), 0)
	out = binary.AppendUvarint(out, uint64(len(sec)))
	return append(out, sec...), nil
}
