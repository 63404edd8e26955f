package main

import (
	"fmt"
	"github.com/hearthdb/hearth/internal/wasmbin"
	"github.com/hearthdb/hearth/internal/wasmdata"
)

// Section ids of the WebAssembly binary format (core spec, 5.5.2).
const (
	sectionCustom = 0
	sectionImport = 2
	sectionCode   = 10
	sectionData   = 11
)

// module is what the report needs from a wasm binary: the size of every
// section, each defined function's body size and the function names of the
// "name" custom section.
type module struct {
	Size int
	// Sections is the size of each section's contents by section name
	// ("code", "data", "custom:name", …).
	Sections map[string]int
	// Imported is the number of imported functions: they come first in
	// the function index space, and have no body.
	Imported int
	// Bodies is the byte size of each defined function's body (its size
	// prefix included), in code-section order.
	Bodies []int
	// Names maps a function index (imports first) to its name.
	Names map[uint32]string
	// Segments are the active data segments: bytes at a memory address.
	Segments []wasmdata.Segment
}

var sectionNames = map[byte]string{1: "type", 2: "import", 3: "function", 4: "table", 5: "memory",
	6: "global", 7: "export", 8: "start", 9: "element", 10: "code", 11: "data", 12: "datacount", 13: "tag"}

// parse reads the sections of a wasm binary. It checks lengths, not
// validity: the input is the Go linker's own output.
func parse(b []byte) (*module, error) {
	sections, err := wasmbin.Sections(b)
	if err != nil {
		return nil, err
	}
	m := &module{Size: len(b), Sections: map[string]int{}, Names: map[uint32]string{}}
	for _, sec := range sections {
		id, body := sec.ID, sec.Body
		sr := wasmbin.Reader{B: body}
		name := sectionNames[id]
		switch id {
		case sectionCustom:
			n, err := sr.Name()
			if err != nil {
				return nil, err
			}
			name = "custom:" + n
			if n == "name" {
				if err := m.readNames(sr); err != nil {
					return nil, err
				}
			}
		case sectionImport:
			if m.Imported, err = countFuncImports(sr); err != nil {
				return nil, err
			}
		case sectionCode:
			if m.Bodies, err = readBodies(sr); err != nil {
				return nil, err
			}
		case sectionData:
			if m.Segments, _, err = wasmdata.Read(body); err != nil {
				return nil, err
			}
		}
		if name == "" {
			name = fmt.Sprintf("section %d", id)
		}
		m.Sections[name] += len(body)
	}
	return m, nil
}

func countFuncImports(r wasmbin.Reader) (int, error) {
	n, err := r.U32()
	if err != nil {
		return 0, err
	}
	funcs := 0
	for i := uint32(0); i < n; i++ {
		if _, err := r.Name(); err != nil { // module
			return 0, err
		}
		if _, err := r.Name(); err != nil { // field
			return 0, err
		}
		kind, err := r.Byte()
		if err != nil {
			return 0, err
		}
		switch kind {
		case 0: // func: type index
			funcs++
			_, err = r.U32()
		case 1: // table: reftype, limits
			if _, err = r.Byte(); err == nil {
				err = r.Limits()
			}
		case 2: // memory: limits
			err = r.Limits()
		case 3: // global: valtype, mutability
			_, err = r.Bytes(2)
		case 4: // tag: attribute, type index
			if _, err = r.Byte(); err == nil {
				_, err = r.U32()
			}
		default:
			return 0, fmt.Errorf("wasm: import kind %d", kind)
		}
		if err != nil {
			return 0, err
		}
	}
	return funcs, nil
}

func readBodies(r wasmbin.Reader) ([]int, error) {
	n, err := r.U32()
	if err != nil {
		return nil, err
	}
	if int(n) > len(r.B) { // each body takes at least one byte
		return nil, wasmbin.ErrTruncated
	}
	bodies := make([]int, 0, n)
	for i := uint32(0); i < n; i++ {
		start := r.Off
		size, err := r.U32()
		if err != nil {
			return nil, err
		}
		if _, err := r.Bytes(int(size)); err != nil {
			return nil, err
		}
		bodies = append(bodies, r.Off-start)
	}
	return bodies, nil
}

// readNames reads the function names subsection (id 1) of the name section.
func (m *module) readNames(r wasmbin.Reader) error {
	for r.Off < len(r.B) {
		id, err := r.Byte()
		if err != nil {
			return err
		}
		size, err := r.U32()
		if err != nil {
			return err
		}
		sub, err := r.Bytes(int(size))
		if err != nil {
			return err
		}
		if id != 1 {
			continue
		}
		sr := wasmbin.Reader{B: sub}
		n, err := sr.U32()
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			idx, err := sr.U32()
			if err != nil {
				return err
			}
			name, err := sr.Name()
			if err != nil {
				return err
			}
			m.Names[idx] = name
		}
	}
	return nil
}
