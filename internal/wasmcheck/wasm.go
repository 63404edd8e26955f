package main

import (
	"errors"
	"fmt"
	"math/bits"
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

type reader struct {
	b   []byte
	off int
}

var errShort = errors.New("unexpected end")

func (r *reader) done() bool { return r.off >= len(r.b) }

func (r *reader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errShort
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || len(r.b)-r.off < n {
		return nil, errShort
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s, nil
}

// uleb reads an unsigned LEB128 of at most maxBits bits.
func (r *reader) uleb(maxBits int) (uint64, error) {
	var v uint64
	for shift := 0; ; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if shift >= maxBits {
			return 0, fmt.Errorf("LEB128 longer than %d bits at %d", maxBits, r.off)
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			if bits.Len64(v) > maxBits {
				return 0, fmt.Errorf("LEB128 over %d bits at %d", maxBits, r.off)
			}
			return v, nil
		}
	}
}

func (r *reader) u32() (int, error) {
	v, err := r.uleb(32)
	return int(v), err
}

// sleb skips a signed LEB128 of at most maxBits bits (its value is of no
// use to check).
func (r *reader) sleb(maxBits int) error {
	for n := 0; ; n += 7 {
		c, err := r.byte()
		if err != nil {
			return err
		}
		if n >= maxBits {
			return fmt.Errorf("signed LEB128 longer than %d bits at %d", maxBits, r.off)
		}
		if c&0x80 == 0 {
			return nil
		}
	}
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(n)
	return string(b), err
}

func parse(bin []byte) (*module, error) {
	r := &reader{b: bin}
	head, err := r.bytes(8)
	if err != nil || string(head) != "\x00asm\x01\x00\x00\x00" {
		return nil, errors.New("not a WebAssembly 1 binary module")
	}
	m := &module{exports: map[string]byte{}}
	imported := 0 // imported functions, which come first in the function index space
	for !r.done() {
		id, err := r.byte()
		if err != nil {
			return nil, err
		}
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		body, err := r.bytes(size)
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		s := &reader{b: body}
		switch id {
		case 0: // custom
			name, err := s.name()
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
			n, err := s.u32()
			if err != nil {
				return nil, err
			}
			m.definesMemory = n > 0
		case 7: // export
			n, err := s.u32()
			if err != nil {
				return nil, err
			}
			for range n {
				name, err := s.name()
				if err != nil {
					return nil, err
				}
				kind, err := s.byte()
				if err != nil {
					return nil, err
				}
				if _, err := s.u32(); err != nil {
					return nil, err
				}
				m.exports[name] = kind
			}
		case 10: // code
			n, err := s.u32()
			if err != nil {
				return nil, err
			}
			for i := range n {
				size, err := s.u32()
				if err != nil {
					return nil, err
				}
				fn, err := s.bytes(size)
				if err != nil {
					return nil, err
				}
				grows, err := growsMemory(&reader{b: fn})
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
func imports(s *reader) (funcs int, kinds map[byte]bool, err error) {
	kinds = map[byte]bool{}
	n, err := s.u32()
	if err != nil {
		return 0, nil, err
	}
	for range n {
		if _, err := s.name(); err != nil {
			return 0, nil, err
		}
		if _, err := s.name(); err != nil {
			return 0, nil, err
		}
		kind, err := s.byte()
		if err != nil {
			return 0, nil, err
		}
		kinds[kind] = true
		switch kind {
		case kindFunc:
			funcs++
			_, err = s.u32()
		case kindTable:
			if _, err = s.byte(); err == nil { // reftype
				err = limits(s)
			}
		case kindMemory:
			err = limits(s)
		case kindGlobal:
			_, err = s.bytes(2) // valtype, mutability
		case kindTag:
			if _, err = s.byte(); err == nil {
				_, err = s.u32()
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

func limits(s *reader) error {
	flags, err := s.byte()
	if err != nil {
		return err
	}
	if _, err := s.uleb(64); err != nil {
		return err
	}
	if flags&1 != 0 {
		_, err = s.uleb(64)
	}
	return err
}

// growsMemory decodes a function body and reports whether it has a
// memory.grow instruction. It knows the instructions of WebAssembly 1.0
// and of the features the module is built with (sign extension,
// non-trapping conversions, bulk memory, reference types, multi-value,
// tail calls); any other opcode is an error rather than a guess, since a
// wrong length would misread every instruction after it.
func growsMemory(r *reader) (bool, error) {
	groups, err := r.u32()
	if err != nil {
		return false, err
	}
	for range groups { // locals: count, valtype
		if _, err := r.u32(); err != nil {
			return false, err
		}
		if _, err := r.byte(); err != nil {
			return false, err
		}
	}
	grows := false
	for !r.done() {
		op, err := r.byte()
		if err != nil {
			return false, err
		}
		switch {
		case op == 0x00 || op == 0x01 || op == 0x05 || op == 0x0b || op == 0x0f || op == 0x1a || op == 0x1b,
			op >= 0x45 && op <= 0xc4, op == 0xd1:
			// no immediates
		case op >= 0x02 && op <= 0x04: // block, loop, if: block type
			err = r.sleb(33)
		case op == 0x0c || op == 0x0d || op == 0x10 || op == 0x12 || op == 0xd2,
			op >= 0x20 && op <= 0x26:
			_, err = r.u32()
		case op == 0x0e: // br_table
			var n int
			if n, err = r.u32(); err == nil {
				for i := 0; i <= n && err == nil; i++ {
					_, err = r.u32()
				}
			}
		case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
			if _, err = r.u32(); err == nil {
				_, err = r.u32()
			}
		case op == 0x1c: // select t*
			var n int
			if n, err = r.u32(); err == nil {
				_, err = r.bytes(n)
			}
		case op >= 0x28 && op <= 0x3e: // memarg
			if _, err = r.u32(); err == nil {
				_, err = r.u32()
			}
		case op == 0x3f:
			_, err = r.u32()
		case op == 0x40:
			grows = true
			_, err = r.u32()
		case op == 0x41:
			err = r.sleb(32)
		case op == 0x42:
			err = r.sleb(64)
		case op == 0x43:
			_, err = r.bytes(4)
		case op == 0x44:
			_, err = r.bytes(8)
		case op == 0xd0: // ref.null
			_, err = r.byte()
		case op == 0xfc:
			var sub int
			if sub, err = r.u32(); err != nil {
				break
			}
			switch {
			case sub <= 7: // saturating conversions
			case sub == 8 || sub == 10 || sub == 12 || sub == 14: // memory.init, memory.copy, table.init, table.copy
				if _, err = r.u32(); err == nil {
					_, err = r.u32()
				}
			case sub == 9 || sub == 11 || sub == 13 || (sub >= 15 && sub <= 17):
				_, err = r.u32()
			default:
				err = fmt.Errorf("unknown instruction 0xfc %d at %d", sub, r.off)
			}
		default:
			err = fmt.Errorf("unknown opcode 0x%02x at %d", op, r.off-1)
		}
		if err != nil {
			return false, err
		}
	}
	return grows, nil
}
