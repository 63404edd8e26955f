// Package wasmbin reads the WebAssembly binary format's primitives
// (LEB128 integers, names, limits, sections) for the build's wasm tools:
// internal/wasmsize, internal/wasmcheck, internal/wasmembed and
// internal/wasmpack; and writes their output (WriteFile).
package wasmbin

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
)

// ErrTruncated is a read past the end of the bytes.
var ErrTruncated = errors.New("wasm: truncated")

// Header is the magic number and version 1 every module starts with.
var Header = []byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00}

// Reader reads B from Off on.
type Reader struct {
	B   []byte
	Off int
}

// Done reports whether every byte has been read.
func (r *Reader) Done() bool { return r.Off >= len(r.B) }

// Byte reads one byte.
func (r *Reader) Byte() (byte, error) {
	if r.Off >= len(r.B) {
		return 0, ErrTruncated
	}
	c := r.B[r.Off]
	r.Off++
	return c, nil
}

// Bytes reads n bytes, which alias B.
func (r *Reader) Bytes(n int) ([]byte, error) {
	if n < 0 || n > len(r.B)-r.Off {
		return nil, ErrTruncated
	}
	s := r.B[r.Off : r.Off+n]
	r.Off += n
	return s, nil
}

// ULEB reads an unsigned LEB128 value of at most maxBits bits.
func (r *Reader) ULEB(maxBits int) (uint64, error) {
	var v uint64
	for shift := 0; ; shift += 7 {
		c, err := r.Byte()
		if err != nil {
			return 0, err
		}
		if shift >= maxBits {
			return 0, fmt.Errorf("wasm: LEB128 longer than %d bits at %d", maxBits, r.Off)
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			if bits.Len64(v) > maxBits {
				return 0, fmt.Errorf("wasm: LEB128 value over %d bits at %d", maxBits, r.Off)
			}
			return v, nil
		}
	}
}

// U32 reads an unsigned LEB128 value of at most 32 bits.
func (r *Reader) U32() (uint32, error) {
	v, err := r.ULEB(32)
	return uint32(v), err
}

// Len reads an unsigned LEB128 value of at most 32 bits as a count or a
// length.
func (r *Reader) Len() (int, error) {
	v, err := r.ULEB(32)
	return int(v), err
}

// SLEB reads a signed LEB128 value of at most maxBits bits.
func (r *Reader) SLEB(maxBits int) (int64, error) {
	var v int64
	for shift := 0; ; shift += 7 {
		c, err := r.Byte()
		if err != nil {
			return 0, err
		}
		if shift >= maxBits {
			return 0, fmt.Errorf("wasm: signed LEB128 longer than %d bits at %d", maxBits, r.Off)
		}
		if shift < 64 {
			v |= int64(c&0x7f) << shift
		}
		if c&0x80 == 0 {
			if c&0x40 != 0 && shift+7 < 64 {
				v |= -1 << (shift + 7)
			}
			if maxBits < 64 && (v < -1<<(maxBits-1) || v > 1<<(maxBits-1)-1) {
				return 0, fmt.Errorf("wasm: LEB128 value over %d bits at %d", maxBits, r.Off)
			}
			return v, nil
		}
	}
}

// S32 reads a signed LEB128 value of at most 32 bits.
func (r *Reader) S32() (int32, error) {
	v, err := r.SLEB(32)
	return int32(v), err
}

// Name reads a name: its length, then its bytes.
func (r *Reader) Name() (string, error) {
	n, err := r.Len()
	if err != nil {
		return "", err
	}
	b, err := r.Bytes(n)
	return string(b), err
}

// Limits skips a table's or a memory's limits.
func (r *Reader) Limits() error {
	flags, err := r.Byte()
	if err != nil {
		return err
	}
	if _, err := r.U32(); err != nil {
		return err
	}
	if flags&1 != 0 {
		_, err = r.U32()
	}
	return err
}

// Section is one section of a module.
type Section struct {
	ID   byte
	Body []byte
}

// Sections splits a module into its sections, in order, after checking
// its header.
func Sections(bin []byte) ([]Section, error) {
	if !bytes.HasPrefix(bin, Header) {
		return nil, errors.New("wasm: not a module (magic number and version 1)")
	}
	r := &Reader{B: bin, Off: len(Header)}
	var out []Section
	for !r.Done() {
		id, err := r.Byte()
		if err != nil {
			return nil, err
		}
		size, err := r.Len()
		if err != nil {
			return nil, err
		}
		body, err := r.Bytes(size)
		if err != nil {
			return nil, fmt.Errorf("section %d: %w", id, err)
		}
		out = append(out, Section{ID: id, Body: body})
	}
	return out, nil
}

// WriteFile writes a module to path through a temporary file beside it,
// renamed over path once whole: a failed tool leaves the old file, never
// half a module that the next make would take for built.
func WriteFile(path string, bin []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".wasm-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(bin); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
