package main

import (
	"fmt"
	"github.com/hearthdb/hearth/internal/wasmbin"
)

// The parts of a WebAssembly module that check looks at.
type module struct {
	exports       map[string]byte // name: kind (kindFunc…)
	dylink        bool
	importsMemory bool
	definesMemory bool
	grows         []int // indexes of the functions (imports counted) that run memory.grow
}

const (
	kindFunc   = 0
	kindTable  = 1
	kindMemory = 2
	kindGlobal = 3
	kindTag    = 4
)

func parse(bin []byte) (*module, error) {
	sections, err := wasmbin.Sections(bin)
	if err != nil {
		return nil, err
	}
	m := &module{exports: map[string]byte{}}
	imported := 0 // imported functions, which come first in the function index space
	for _, sec := range sections {
		id := sec.ID
		s := &wasmbin.Reader{B: sec.Body}
		switch id {
		case 0: // custom
			name, err := s.Name()
			if err != nil {
				return nil, err
			}
			if name == "dylink.0" {
				m.dylink = true
			}
		case 2: // import
			n, kinds, err := imports(s)
			if err != nil {
				return nil, fmt.Errorf("import section: %w", err)
			}
			imported = n
			m.importsMemory = kinds[kindMemory]
		case 5: // memory
			n, err := s.Len()
			if err != nil {
				return nil, err
			}
			m.definesMemory = n > 0
		case 7: // export
			n, err := s.Len()
			if err != nil {
				return nil, err
			}
			for range n {
				name, err := s.Name()
				if err != nil {
					return nil, err
				}
				kind, err := s.Byte()
				if err != nil {
					return nil, err
				}
				if _, err := s.Len(); err != nil {
					return nil, err
				}
				m.exports[name] = kind
			}
		case 10: // code
			n, err := s.Len()
			if err != nil {
				return nil, err
			}
			for i := range n {
				size, err := s.Len()
				if err != nil {
					return nil, err
				}
				fn, err := s.Bytes(size)
				if err != nil {
					return nil, err
				}
				grows, err := growsMemory(&wasmbin.Reader{B: fn})
				if err != nil {
					return nil, fmt.Errorf("function %d: %w", imported+i, err)
				}
				if grows {
					m.grows = append(m.grows, imported+i)
				}
			}
		}
	}
	return m, nil
}

// imports returns how many functions the import section s imports, and
// which kinds of import it has.
func imports(s *wasmbin.Reader) (funcs int, kinds map[byte]bool, err error) {
	kinds = map[byte]bool{}
	n, err := s.Len()
	if err != nil {
		return 0, nil, err
	}
	for range n {
		if _, err := s.Name(); err != nil {
			return 0, nil, err
		}
		if _, err := s.Name(); err != nil {
			return 0, nil, err
		}
		kind, err := s.Byte()
		if err != nil {
			return 0, nil, err
		}
		kinds[kind] = true
		switch kind {
		case kindFunc:
			funcs++
			_, err = s.Len()
		case kindTable:
			if _, err = s.Byte(); err == nil { // reftype
				err = limits(s)
			}
		case kindMemory:
			err = limits(s)
		case kindGlobal:
			_, err = s.Bytes(2) // valtype, mutability
		case kindTag:
			if _, err = s.Byte(); err == nil {
				_, err = s.Len()
			}
		default:
			err = fmt.Errorf("import kind %d", kind)
		}
		if err != nil {
			return 0, nil, err
		}
	}
	return funcs, kinds, nil
}

func limits(s *wasmbin.Reader) error {
	flags, err := s.Byte()
	if err != nil {
		return err
	}
	if _, err := s.ULEB(64); err != nil {
		return err
	}
	if flags&1 != 0 {
		_, err = s.ULEB(64)
	}
	return err
}

// growsMemory decodes a function body and reports whether it has a
// memory.grow instruction. It knows the instructions of WebAssembly 1.0
// and of the features the module is built with (sign extension,
// non-trapping conversions, bulk memory, reference types, multi-value,
// tail calls); any other opcode is an error rather than a guess, since a
// wrong length would misread every instruction after it.
func growsMemory(r *wasmbin.Reader) (bool, error) {
	groups, err := r.Len()
	if err != nil {
		return false, err
	}
	for range groups { // locals: count, valtype
		if _, err := r.Len(); err != nil {
			return false, err
		}
		if _, err := r.Byte(); err != nil {
			return false, err
		}
	}
	grows := false
	for !r.Done() {
		op, err := r.Byte()
		if err != nil {
			return false, err
		}
		switch {
		case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0b || op == 0x0f || op == 0x1a || op == 0x1b,
			op >= 0x45 && op <= 0xc4, op == 0xd1:
			// no immediates
		case op >= 0x02 && op <= 0x04: // block, loop, if: block type
			_, err = r.SLEB(33)
		case op == 0x0c || op == 0x0d || op == 0x10 || op == 0x12 || op == 0xd2,
			op >= 0x20 && op <= 0x26:
			_, err = r.Len()
		case op == 0x0e: // br_table
			var n int
			if n, err = r.Len(); err == nil {
				for i := 0; i <= n && err == nil; i++ {
					_, err = r.Len()
				}
			}
		case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
			if _, err = r.Len(); err == nil {
				_, err = r.Len()
			}
		case op == 0x1c: // select t*
			var n int
			if n, err = r.Len(); err == nil {
				_, err = r.Bytes(n)
			}
		case op >= 0x28 && op <= 0x3e: // memarg
			if _, err = r.Len(); err == nil {
				_, err = r.Len()
			}
		case op == 0x3f:
			_, err = r.Len()
		case op == 0x40:
			grows = true
			_, err = r.Len()
		case op == 0x41:
			_, err = r.SLEB(32)
		case op == 0x42:
			_, err = r.SLEB(64)
		case op == 0x43:
			_, err = r.Bytes(4)
		case op == 0x44:
			_, err = r.Bytes(8)
		case op == 0xd0: // ref.null
			_, err = r.Byte()
		case op == 0xfc:
			var sub int
			if sub, err = r.Len(); err != nil {
				break
			}
			switch {
			case sub <= 7: // saturating conversions
			case sub == 8 || sub == 10 || sub == 12 || sub == 14: // memory.init, memory.copy, table.init, table.copy
				if _, err = r.Len(); err == nil {
					_, err = r.Len()
				}
			case sub == 9 || sub == 11 || sub == 13 || (sub >= 15 && sub <= 17):
				_, err = r.Len()
			default:
				err = fmt.Errorf("unknown instruction 0xfc %d at %d", sub, r.Off)
			}
		default:
			err = fmt.Errorf("unknown opcode 0x%02x at %d", op, r.Off-1)
		}
		if err != nil {
			return false, err
		}
	}
	return grows, nil
}
