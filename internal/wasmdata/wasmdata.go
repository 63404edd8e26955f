// Package wasmdata reads a wasm module's data segments and writes them
// back merged, for the build's wasm tools (internal/wasmpack,
// internal/wasmsize).
//
// Go's linker splits its data into a new segment wherever it finds more
// than 8 zero bytes, which minimizes the raw file: the worker's data
// section was 93,688 segments. But each segment's header (its address and
// length, 6–8 bytes) is nearly incompressible while runs of zeros cost a
// compressor almost nothing, so across the wire the headers cost more than
// the zeros they saved: merging them back took 96 KB off the worker as
// brotli serves it (docs/bundle-size.md). Memory starts zeroed, so a
// segment that writes the zeros between two others leaves the same
// memory behind.
package wasmdata

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/hearthdb/hearth/internal/wasmbin"
)

// Section ids of the WebAssembly binary format (core spec, 5.5.2).
const (
	sectionData      = 11
	sectionDataCount = 12
)

// DefaultGap is the widest run of zeros a merged segment writes: 4 KiB.
// Above 32 bytes the worker's compressed size hardly moves
// (docs/bundle-size.md); the bound keeps a large zeroed area, should the
// linker ever lay one out between initialised data, out of the file.
const DefaultGap = 4096

// Segment is an active data segment of memory 0: Data at address Addr.
type Segment struct {
	Addr uint32
	Data []byte
}

// End is the address after the segment's last byte.
func (s Segment) End() uint64 { return uint64(s.Addr) + uint64(len(s.Data)) }

// Read reads a data section's body. It returns the active segments of
// memory 0 whose address is an i32.const, as Go's linker writes every
// segment, and how many segments were of another kind (passive, another
// memory, a computed address).
func Read(body []byte) (segs []Segment, other int, err error) {
	r := wasmbin.Reader{B: body}
	n, err := r.U32()
	if err != nil {
		return nil, 0, err
	}
	for i := uint32(0); i < n; i++ {
		flags, err := r.U32()
		if err != nil {
			return nil, 0, err
		}
		var memory uint32
		switch flags {
		case 0:
		case 1: // passive: no memory, no address
		case 2:
			if memory, err = r.U32(); err != nil {
				return nil, 0, err
			}
		default:
			return nil, 0, fmt.Errorf("wasm: data segment %d: flags %d", i, flags)
		}
		addr, constant := uint32(0), false
		if flags != 1 {
			if addr, constant, err = offset(&r); err != nil {
				return nil, 0, fmt.Errorf("wasm: data segment %d: %w", i, err)
			}
		}
		size, err := r.U32()
		if err != nil {
			return nil, 0, err
		}
		data, err := r.Bytes(int(size))
		if err != nil {
			return nil, 0, err
		}
		if flags == 1 || memory != 0 || !constant {
			other++
			continue
		}
		segs = append(segs, Segment{Addr: addr, Data: data})
	}
	if !r.Done() {
		return nil, 0, errors.New("wasm: bytes after the data section's segments")
	}
	return segs, other, nil
}

// offset reads a segment's offset expression: an i32.const and end gives
// its address; any other expression is read to its end and reported as
// not constant.
func offset(r *wasmbin.Reader) (addr uint32, constant bool, err error) {
	op, err := r.Byte()
	if err != nil {
		return 0, false, err
	}
	if op == 0x41 { // i32.const
		v, err := r.S32()
		if err != nil {
			return 0, false, err
		}
		end, err := r.Byte()
		if err != nil {
			return 0, false, err
		}
		if end == 0x0b {
			return uint32(v), true, nil
		}
		op = end
	}
	// Not a lone i32.const: skip to the expression's end. Only the
	// instructions of constant expressions can appear here.
	for op != 0x0b {
		switch op {
		case 0x23: // global.get
			_, err = r.U32()
		case 0x41: // i32.const
			_, err = r.S32()
		case 0x42: // i64.const
			_, err = r.SLEB(64)
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended-const arithmetic
		default:
			return 0, false, fmt.Errorf("offset opcode 0x%x", op)
		}
		if err != nil {
			return 0, false, err
		}
		if op, err = r.Byte(); err != nil {
			return 0, false, err
		}
	}
	return 0, false, nil
}

// Merge returns segs sorted by address, with every two that are at most
// maxGap bytes apart made one by writing the zeros between them. Segments
// that overlap are an error: which bytes win would depend on their order.
func Merge(segs []Segment, maxGap int) ([]Segment, error) {
	sorted := slices.Clone(segs)
	slices.SortStableFunc(sorted, func(a, b Segment) int { return cmp.Compare(a.Addr, b.Addr) })
	var out []Segment
	for _, s := range sorted {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if uint64(s.Addr) < last.End() {
				return nil, fmt.Errorf("wasm: data segments at 0x%x and 0x%x overlap", last.Addr, s.Addr)
			}
			if gap := uint64(s.Addr) - last.End(); gap <= uint64(maxGap) {
				last.Data = append(append(last.Data, make([]byte, gap)...), s.Data...)
				continue
			}
		}
		out = append(out, Segment{Addr: s.Addr, Data: slices.Clone(s.Data)})
	}
	return out, nil
}

// Append appends a data section's body holding segs to dst, each as an
// active segment of memory 0 at an i32.const address.
func Append(dst []byte, segs []Segment) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(segs)))
	for _, s := range segs {
		dst = append(dst, 0x00, 0x41) // memory 0, i32.const
		dst = appendSLEB(dst, int64(int32(s.Addr)))
		dst = append(dst, 0x0b)
		dst = binary.AppendUvarint(dst, uint64(len(s.Data)))
		dst = append(dst, s.Data...)
	}
	return dst
}

// appendSLEB appends v as a signed LEB128 integer (the encoding of an
// i32.const's operand; encoding/binary's varint is zigzag, not this).
func appendSLEB(dst []byte, v int64) []byte {
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(dst, b)
		}
		dst = append(dst, b|0x80)
	}
}

// Stats says what Pack did.
type Stats struct {
	SegmentsBefore, SegmentsAfter int
	SectionBefore, SectionAfter   int // the data section's body, in bytes
}

// Pack returns the module bin with its data segments merged (Merge) and
// the rest of its sections as they were. A module with a segment of
// another kind than Read returns, or with a data count section (whose
// segment indices merging would change), is an error: Go's linker writes
// neither.
func Pack(bin []byte, maxGap int) ([]byte, Stats, error) {
	sections, err := wasmbin.Sections(bin)
	if err != nil {
		return nil, Stats{}, err
	}
	out := slices.Clone(wasmbin.Header)
	var st Stats
	found := false
	for _, s := range sections {
		body := s.Body
		switch s.ID {
		case sectionDataCount:
			return nil, Stats{}, errors.New("wasm: a data count section: segments are referred to by index")
		case sectionData:
			segs, other, err := Read(body)
			if err != nil {
				return nil, Stats{}, err
			}
			if other > 0 {
				return nil, Stats{}, fmt.Errorf("wasm: %d data segments are not active segments of memory 0 at a constant address", other)
			}
			merged, err := Merge(segs, maxGap)
			if err != nil {
				return nil, Stats{}, err
			}
			body = Append(nil, merged)
			st = Stats{len(segs), len(merged), len(s.Body), len(body)}
			found = true
		}
		out = append(out, s.ID)
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	if !found {
		return nil, Stats{}, errors.New("wasm: no data section")
	}
	return out, st, nil
}
