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
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
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
	tmp, err := os.CreateTemp(filepath.Dir(module), ".wasmembed-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(out); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), module)
}

// wasmHeader is the magic number and version 1 every module starts with.
var wasmHeader = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// appendSection returns bin with a custom section (id 0) named name and
// holding payload at its end. It walks bin's sections to check that it is
// a whole module without such a section already.
func appendSection(bin []byte, name string, payload []byte) ([]byte, error) {
	if !bytes.HasPrefix(bin, wasmHeader) {
		return nil, errors.New("not a wasm module (version 1)")
	}
	for rest := bin[len(wasmHeader):]; len(rest) > 0; {
		id := rest[0]
		size, n := binary.Uvarint(rest[1:])
		if n <= 0 || uint64(len(rest)-1-n) < size {
			return nil, errors.New("a section runs past the end of the module")
		}
		body := rest[1+n : 1+n+int(size)]
		if id == 0 {
			nameLen, m := binary.Uvarint(body)
			if m > 0 && uint64(len(body)-m) >= nameLen && string(body[m:m+int(nameLen)]) == name {
				return nil, fmt.Errorf("it has a %q section already", name)
			}
		}
		rest = rest[1+n+int(size):]
	}
	var sec []byte
	sec = binary.AppendUvarint(sec, uint64(len(name)))
	sec = append(sec, name...)
	sec = append(sec, payload...)
	out := append(bytes.Clone(bin), 0)
	out = binary.AppendUvarint(out, uint64(len(sec)))
	return append(out, sec...), nil
}
