package main

import (
	"encoding/binary"
	"errors"
	"sort"

	"github.com/hearthdb/hearth/internal/wasmdata"
)

// memory is the initial linear memory the data segments describe; bytes
// no segment covers are zero.
type memory struct{ segs []wasmdata.Segment }

func newMemory(segs []wasmdata.Segment) *memory {
	s := append([]wasmdata.Segment(nil), segs...)
	sort.Slice(s, func(i, j int) bool { return s[i].Addr < s[j].Addr })
	return &memory{segs: s}
}

func (m *memory) u64(addr uint64) uint64 {
	var b [8]byte
	for i := range b {
		b[i] = m.at(addr + uint64(i))
	}
	return binary.LittleEndian.Uint64(b[:])
}

func (m *memory) at(addr uint64) byte {
	i := sort.Search(len(m.segs), func(i int) bool { return uint64(m.segs[i].Addr)+uint64(len(m.segs[i].Data)) > addr })
	if i < len(m.segs) && uint64(m.segs[i].Addr) <= addr {
		return m.segs[i].Data[addr-uint64(m.segs[i].Addr)]
	}
	return 0
}

// stored is how many bytes of [lo, hi) the segments hold: the share of
// the data section that range costs.
func (m *memory) stored(lo, hi uint64) int {
	n := 0
	for _, s := range m.segs {
		a, b := uint64(s.Addr), uint64(s.Addr)+uint64(len(s.Data))
		a, b = max(a, lo), min(b, hi)
		if a < b {
			n += int(b - a)
		}
	}
	return n
}

// dataPart is a named share of the data section.
type dataPart struct {
	Name  string
	Bytes int
}

// The Go 1.20+ pclntab header: magic, two zero pads, minLC 1 and pointer
// size 8 on wasm.
var pcHeaderMagic = []byte{0xf1, 0xff, 0xff, 0xff, 0, 0, 1, 8}

// goDataParts splits the data section of a Go-built wasm by the address
// ranges the runtime's module data records (runtime.moduledata in
// runtime/symtab.go: the pclntab parts, type descriptors, noptrdata,
// data). The layout is the Go toolchain's own, so it is checked for sense
// and an error returned when it does not fit.
func goDataParts(segs []wasmdata.Segment, sectionSize int) ([]dataPart, error) {
	mem := newMemory(segs)
	var hdr uint64
	found := false
	for _, s := range mem.segs {
		for i := 0; i+len(pcHeaderMagic) <= len(s.Data) && !found; i += 8 - (int(s.Addr)+i)%8 {
			if string(s.Data[i:i+len(pcHeaderMagic)]) == string(pcHeaderMagic) {
				hdr, found = uint64(s.Addr)+uint64(i), true
			}
		}
	}
	if !found {
		return nil, errors.New("no Go pclntab header in the data")
	}
	// pcHeader: magic+pads (8), nfunc, nfiles, unused, then the offsets.
	funcnameOff, cuOff, pctabOff, pclnOff := mem.u64(hdr+32), mem.u64(hdr+40), mem.u64(hdr+56), mem.u64(hdr+64)
	// moduledata starts with a pointer to the header, then the funcnametab
	// slice.
	var md uint64
	found = false
	for _, s := range mem.segs {
		for i := (8 - int(s.Addr)%8) % 8; i+16 <= len(s.Data) && !found; i += 8 {
			a := uint64(s.Addr) + uint64(i)
			if mem.u64(a) == hdr && mem.u64(a+8) == hdr+funcnameOff {
				md, found = a, true
			}
		}
	}
	if !found {
		return nil, errors.New("no runtime.firstmoduledata pointing at the pclntab header")
	}
	word := func(off uint64) uint64 { return mem.u64(md + off) }
	// Offsets in runtime.moduledata (Go 1.26, 64-bit): pcHeader, six
	// slices (funcnametab, cutab, filetab, pctab, pclntable, ftab), then
	// findfunctab, minpc, maxpc, text, etext, noptrdata, enoptrdata, data,
	// edata, bss, ebss, noptrbss, enoptrbss, covctrs, ecovctrs, end,
	// gcdata, gcbss, types, etypes, rodata, gofunc, epclntab.
	pclntable, npclntable := word(8+4*24), word(8+4*24+8)
	noptrdata, enoptrdata, data, edata := word(192), word(200), word(208), word(216)
	rodata, gofunc, epclntab := word(312), word(320), word(328)
	if !(funcnameOff <= cuOff && cuOff <= pctabOff && pctabOff <= pclnOff && hdr+pclnOff == pclntable &&
		pclntable+npclntable <= gofunc && gofunc <= epclntab && rodata <= hdr &&
		noptrdata <= enoptrdata && data <= edata) || epclntab-hdr > 1<<32 {
		return nil, errors.New("runtime.firstmoduledata does not have the expected layout (a newer Go?)")
	}
	parts := []dataPart{
		{"pclntab: header and function names", mem.stored(hdr, hdr+cuOff)},
		{"pclntab: compilation units and file names", mem.stored(hdr+cuOff, hdr+pctabOff)},
		{"pclntab: pc-value tables (line numbers, stack sizes)", mem.stored(hdr+pctabOff, pclntable)},
		{"pclntab: function table and per-function records", mem.stored(pclntable, gofunc)},
		{"funcdata (go:func.*: stack and argument pointer maps, …)", mem.stored(gofunc, epclntab)},
		{"rodata: type descriptors, strings, constants, embedded files", mem.stored(rodata, hdr)},
		{"noptrdata (initialised variables without pointers)", mem.stored(noptrdata, enoptrdata)},
		{"data (initialised variables with pointers)", mem.stored(data, edata)},
	}
	total, known := 0, 0
	for _, s := range mem.segs {
		total += len(s.Data)
	}
	for _, p := range parts {
		known += p.Bytes
	}
	parts = append(parts, dataPart{"other (module data, type and itab links)", total - known},
		dataPart{"segment headers (the linker splits the data at runs of zeros; the shipped build merges them)", sectionSize - total})
	return parts, nil
}
