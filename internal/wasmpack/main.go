// Command wasmpack writes a Go-built wasm module with its data segments
// merged (internal/wasmdata): the same memory at instantiation, and a
// smaller file once compressed.
//
//	go run ./internal/wasmpack [-gap N] [-o OUT.wasm] MODULE.wasm
//
// make wasm and make board run it on every build, from go build's output
// to the file served (not in place: go build leaves an output whose build
// ID is current untouched, so a rewritten one would be packed twice, or
// embedded in twice); internal/wasmsize measures the shipped bundle after
// it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/hearthdb/hearth/internal/wasmbin"
	"github.com/hearthdb/hearth/internal/wasmdata"
)

func main() {
	gap := flag.Int("gap", wasmdata.DefaultGap, "merge segments this many zero bytes apart or closer")
	out := flag.String("o", "", "where to write the packed module (default: over MODULE.wasm)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: wasmpack [-gap N] [-o OUT.wasm] MODULE.wasm")
		os.Exit(2)
	}
	if *out == "" {
		*out = flag.Arg(0)
	}
	if err := run(flag.Arg(0), *out, *gap); err != nil {
		fmt.Fprintln(os.Stderr, "wasmpack:", err)
		os.Exit(1)
	}
}

func run(module, dest string, gap int) error {
	bin, err := os.ReadFile(module)
	if err != nil {
		return err
	}
	out, st, err := wasmdata.Pack(bin, gap)
	if err != nil {
		return fmt.Errorf("%s: %w", module, err)
	}
	if err := wasmbin.WriteFile(dest, out); err != nil {
		return err
	}
	fmt.Printf("wasmpack: %s: %d data segments in %d B -> %d in %d B\n", dest, st.SegmentsBefore, st.SectionBefore, st.SegmentsAfter, st.SectionAfter)
	return nil
}
