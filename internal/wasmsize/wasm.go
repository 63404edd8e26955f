package main

import (
	"errors"
	"fmt"
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
	Segments []segment
}

// segment is an active data segment of memory 0.
type segment struct {
	Addr uint32
	Data []byte
}

var errTruncated = errors.New("wasm: truncated")

var sectionNames = map[byte]string{1: "type", 2: "import", 3: "function", 4: "table", 5: "memory",
	6: "global", 7: "export", 8: "start", 9: "element", 10: "code", 11: "data", 12: "datacount", 13: "tag"}

// parse reads the sections of a wasm binary. It checks lengths, not
// validity: the input is the Go linker's own output.
func parse(b []byte) (*module, error) {
	if len(b) < 8 || string(b[:4]) != "\x00asm" {
		return nil, errors.New("wasm: not a WebAssembly binary (no \\0asm magic)")
	}
	m := &module{Size: len(b), Sections: map[string]int{}, Names: map[uint32]string{}}
	r := reader{b: b, off: 8}
	for r.off < len(r.b) {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		body, err := r.bytes(int(size))
		if err != nil {
			return nil, err
		}
		sr := reader{b: body}
		name := sectionNames[id]
		switch id {
		case sectionCustom:
			n, err := sr.name()
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
			if m.Segments, err = readSegments(sr); err != nil {
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

func countFuncImports(r reader) (int, error) {
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	funcs := 0
	for i := uint32(0); i < n; i++ {
		if _, err := r.name(); err != nil { // module
			return 0, err
		}
		if _, err := r.name(); err != nil { // field
			return 0, err
		}
		kind, err := r.byte()
		if err != nil {
			return 0, err
		}
		switch kind {
		case 0: // func: type index
			funcs++
			_, err = r.u32()
		case 1: // table: reftype, limits
			if _, err = r.byte(); err == nil {
				err = r.limits()
			}
		case 2: // memory: limits
			err = r.limits()
		case 3: // global: valtype, mutability
			_, err = r.bytes(2)
		case 4: // tag: attribute, type index
			if _, err = r.byte(); err == nil {
				_, err = r.u32()
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

func readBodies(r reader) ([]int, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	if int(n) > len(r.b) { // each body takes at least one byte
		return nil, errTruncated
	}
	bodies := make([]int, 0, n)
	for i := uint32(0); i < n; i++ {
		start := r.off
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		if _, err := r.bytes(int(size)); err != nil {
			return nil, err
		}
		bodies = append(bodies, r.off-start)
	}
	return bodies, nil
}

// readSegments reads the data section's active segments whose offset is
// an i32.const, as the Go linker writes them; others are skipped.
func readSegments(r reader) ([]segment, error) {
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	var segs []segment
	for i := uint32(0); i < n; i++ {
		flags, err := r.u32()
		if err != nil {
			return nil, err
		}
		addr, active := uint32(0), flags == 0 || flags == 2
		if flags == 2 {
			if _, err := r.u32(); err != nil { // memory index
				return nil, err
			}
		}
		if active {
			op, err := r.byte()
			if err != nil {
				return nil, err
			}
			if op != 0x41 { // i32.const
				return nil, fmt.Errorf("wasm: data segment offset opcode 0x%x", op)
			}
			v, err := r.s32()
			if err != nil {
				return nil, err
			}
			if end, err := r.byte(); err != nil || end != 0x0b {
				return nil, errors.New("wasm: data segment offset not a constant")
			}
			addr = uint32(v)
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		data, err := r.bytes(int(size))
		if err != nil {
			return nil, err
		}
		if active {
			segs = append(segs, segment{Addr: addr, Data: data})
		}
	}
	return segs, nil
}

// readNames reads the function names subsection (id 1) of the name section.
func (m *module) readNames(r reader) error {
	for r.off < len(r.b) {
		id, err := r.byte()
		if err != nil {
			return err
		}
		size, err := r.u32()
		if err != nil {
			return err
		}
		sub, err := r.bytes(int(size))
		if err != nil {
			return err
		}
		if id != 1 {
			continue
		}
		sr := reader{b: sub}
		n, err := sr.u32()
		if err != nil {
			return err
		}
		for i := uint32(0); i < n; i++ {
			idx, err := sr.u32()
			if err != nil {
				return err
			}
			name, err := sr.name()
			if err != nil {
				return err
			}
			m.Names[idx] = name
		}
	}
	return nil
}

type reader struct {
	b   []byte
	off int
}

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errTruncated
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.b)-r.off {
		return nil, errTruncated
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s, nil
}

// u32 reads an unsigned LEB128 value of at most 32 bits.
func (r *reader) u32() (uint32, error) {
	var v uint32
	for shift := 0; shift < 35; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if shift == 28 && c > 0x0f {
			return 0, errors.New("wasm: LEB128 value over 32 bits")
		}
		v |= uint32(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, errors.New("wasm: LEB128 value over 32 bits")
}

// s32 reads a signed LEB128 value of at most 32 bits.
func (r *reader) s32() (int32, error) {
	var v int64
	for shift := 0; shift < 35; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= int64(c&0x7f) << shift
		if c&0x80 == 0 {
			if c&0x40 != 0 {
				v |= -1 << (shift + 7)
			}
			if v < -1<<31 || v > 1<<31-1 {
				return 0, errors.New("wasm: LEB128 value over 32 bits")
			}
			return int32(v), nil
		}
	}
	return 0, errors.New("wasm: LEB128 value over 32 bits")
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(int(n))
	return string(b), err
}

func (r *reader) limits() error {
	flags, err := r.byte()
	if err != nil {
		return err
	}
	if _, err := r.u32(); err != nil {
		return err
	}
	if flags&1 != 0 {
		_, err = r.u32()
	}
	return err
}
