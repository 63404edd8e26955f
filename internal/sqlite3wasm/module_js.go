// Package sqlite3_wasm is the js/wasm worker's replacement of
// github.com/ncruces/go-sqlite3-wasm/v6 (docs/sqlite-module.md): the same
// API, which go-sqlite3 uses unchanged, forwarding to SQLite built by
// clang as its own WebAssembly module (make sqlite-module) instead of
// SQLite translated to Go. The worker's loader (web/hearth-worker-boot.js,
// globalThis.hearthSQLite) instantiates that module once per connection on
// this program's own linear memory, inside []byte chunks Go allocates
// here, so that go-sqlite3 reads and writes SQLite's memory directly, as
// it does the translated module's.
//
// Only this file is written by hand; internal/sqlitegen generates the rest
// from go-sqlite3-wasm's sqlite3.go. Every file is for GOOS=js: go.wasm.mod
// selects this module for the worker's build, and native builds never see
// it.
package sqlite3_wasm

import (
	"encoding/binary"
	"math"
	"runtime"
	"syscall/js"
	"time"
	"unsafe"
)

// Module is one SQLite instance: one go-sqlite3 connection.
type Module struct {
	id     int32 // the loader's instance id, the first argument of every import
	_env   Xenv
	memory *[]byte // go-sqlite3's Memory.Buf: rebound so that index == linear address
	sp     int32   // go-sqlite3's StackAlloc area, which is not the C stack
	chunks [][]byte
	end    int // the end of the highest chunk: the length of *memory

	// A panic a callback caught, raised again once SQLite returns.
	panicked any
}

// cur is the module whose SQLite call is on the stack: callbacks from C
// carry no instance (they are the same wasm exports for every instance).
// One variable is enough because js/wasm runs one goroutine at a time and
// a callback must never wait for the event loop while C frames are on the
// stack (it ends the program: docs/sqlite-module.md, "the hard parts"), so
// no other goroutine runs SQLite in the middle of a call.
var cur *Module

// enter makes m the module whose call is on the stack, and returns the
// previous one (a callback of one connection may call another).
func (m *Module) enter() *Module {
	prev := cur
	cur = m
	return prev
}

// leave undoes enter once SQLite has returned, and raises the panic a
// callback caught during the call, now that no C frame is left to unwind
// through.
func (m *Module) leave(prev *Module) {
	cur = prev
	if p := m.panicked; p != nil {
		m.panicked = nil
		panic(p)
	}
}

// hold keeps a callback's panic for leave; later callbacks of the same
// call return at once (panicking).
func (m *Module) hold(p any) {
	if m.panicked == nil {
		m.panicked = p
	}
}

func (m *Module) panicking() bool { return m.panicked != nil }

type sliceHeader struct {
	data     unsafe.Pointer
	len, cap int
}

// grow allocates a chunk of size bytes aligned to align, for SQLite's data,
// stack or heap, and returns its linear address. Go's heap objects never
// move, and m.chunks keeps them alive as long as the module.
func (m *Module) grow(size, align int) int {
	b := make([]byte, size+align)
	m.chunks = append(m.chunks, b)
	p := (int(uintptr(unsafe.Pointer(&b[0]))) + align - 1) &^ (align - 1)
	if e := p + size; e > m.end {
		m.end = e
		// A slice from address 0 (a nil base), so that a C pointer is an
		// index into it, as go-sqlite3 expects. Only the chunks' ranges are
		// ever indexed: SQLite's pointers are all inside them.
		h := sliceHeader{nil, e, e}
		*m.memory = *(*[]byte)(unsafe.Pointer(&h))
	}
	return p
}

const (
	scratchSize = 64 << 10  // go-sqlite3's out-parameters (StackAlloc)
	cStackSize  = 256 << 10 // SQLite's C stack
	heapInitial = 1 << 20   // the allocator's first pool
	pageSize    = 64 << 10
)

// New returns the module for one connection; X_initialize instantiates its
// SQLite.
func New(env Xenv) *Module {
	m := &Module{_env: env}
	m.memory = env.Xmemory().Slice()
	if i, ok := any(env).(interface{ Init(any) }); ok {
		i.Init(m)
	}
	return m
}

// X_initialize lays out the instance's memory in one Go chunk, [data and
// bss][go-sqlite3's scratch][C stack][first heap pool], has the loader
// instantiate the SQLite module there, and runs its _initialize. The
// loader's instance is released when the Module is collected
// (go-sqlite3 drops it when the connection closes).
func (m *Module) X_initialize() {
	loader := js.Global().Get("hearthSQLite")
	info := loader.Call("info")
	memSize, memAlign := info.Get("memSize").Int(), 1<<info.Get("memAlign").Int()
	data := (memSize + 15) &^ 15
	total := data + scratchSize + cStackSize + heapInitial
	base := m.grow(total, max(memAlign, 16))
	scratchTop := base + data + scratchSize
	stackTop := scratchTop + cStackSize
	m.sp = int32(scratchTop)
	m.id = int32(loader.Call("load", base, stackTop, stackTop, base+total).Int())
	runtime.AddCleanup(m, func(id int32) { js.Global().Get("hearthSQLite").Call("release", id) }, m.id)
	prev := m.enter()
	imp__initialize(m.id)
	m.leave(prev)
}

//go:wasmimport sqlite _initialize
func imp__initialize(inst int32)

// X__stack_pointer is go-sqlite3's scratch stack for out-parameters
// (StackAlloc); SQLite's own C stack is the loader's __stack_pointer.
func (m *Module) X__stack_pointer() *int32 { return &m.sp }

// X__indirect_function_table is used by go-sqlite3 only to load
// extensions built for wasm2go, which cannot run beside this module.
func (m *Module) X__indirect_function_table() *[]any {
	panic("sqlite3_wasm (clang module): dynamically linked extensions are not supported")
}

// goMoreCore replaces memory.grow in SQLite's allocator (libc-gen's
// malloc_tlsf.c, patched): Go's runtime alone may grow the linear memory,
// so SQLite's heap grows by Go-allocated, 64 KiB-aligned chunks instead.
// It returns the chunk's first page.
//
//go:wasmexport go_more_core
func goMoreCore(npages int32) int32 {
	return int32(cur.grow(int(npages)*pageSize, pageSize) / pageSize)
}

// The C library functions SQLite imports: wasi-libc's math is not
// position-independent, so Go's math package provides them, as it does
// for go-sqlite3-wasm's translation (its libc.go).

//go:wasmexport exp
func wexp(x float64) float64 { return math.Exp(x) }

//go:wasmexport pow
func wpow(x, y float64) float64 { return math.Pow(x, y) }

//go:wasmexport fmod
func wfmod(x, y float64) float64 { return math.Mod(x, y) }

//go:wasmexport acos
func wacos(x float64) float64 { return math.Acos(x) }

//go:wasmexport asin
func wasin(x float64) float64 { return math.Asin(x) }

//go:wasmexport atan
func watan(x float64) float64 { return math.Atan(x) }

//go:wasmexport atan2
func watan2(y, x float64) float64 { return math.Atan2(y, x) }

//go:wasmexport cos
func wcos(x float64) float64 { return math.Cos(x) }

//go:wasmexport sin
func wsin(x float64) float64 { return math.Sin(x) }

//go:wasmexport tan
func wtan(x float64) float64 { return math.Tan(x) }

//go:wasmexport cosh
func wcosh(x float64) float64 { return math.Cosh(x) }

//go:wasmexport sinh
func wsinh(x float64) float64 { return math.Sinh(x) }

//go:wasmexport tanh
func wtanh(x float64) float64 { return math.Tanh(x) }

//go:wasmexport acosh
func wacosh(x float64) float64 { return math.Acosh(x) }

//go:wasmexport asinh
func wasinh(x float64) float64 { return math.Asinh(x) }

//go:wasmexport atanh
func watanh(x float64) float64 { return math.Atanh(x) }

//go:wasmexport log
func wlog(x float64) float64 { return math.Log(x) }

//go:wasmexport log10
func wlog10(x float64) float64 { return math.Log10(x) }

//go:wasmexport log2
func wlog2(x float64) float64 { return math.Log2(x) }

// wlocaltime is localtime_r(const time_t *timer, struct tm *buf) as
// go-sqlite3-wasm's libc.go implements it (in Go's local time zone):
// time_t is 64 bits, struct tm eleven 32-bit fields, tm_zone left null.
//
//go:wasmexport localtime_r
func wlocaltime(timer, buf int32) int32 {
	mem := *cur.memory
	t := time.Unix(int64(binary.LittleEndian.Uint64(mem[uint32(timer):])), 0)
	var isdst uint32
	if t.IsDST() {
		isdst = 1
	}
	_, zone := t.Zone()
	for i, v := range []uint32{
		uint32(t.Second()), uint32(t.Minute()), uint32(t.Hour()),
		uint32(t.Day()), uint32(t.Month() - time.January), uint32(t.Year() - 1900),
		uint32(t.Weekday() - time.Sunday), uint32(t.YearDay() - 1), isdst, uint32(zone), 0,
	} {
		binary.LittleEndian.PutUint32(mem[uint32(buf)+uint32(4*i):], v)
	}
	return buf
}
