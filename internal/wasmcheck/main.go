// Command wasmcheck checks the SQLite side module that
// scripts/sqlite-module.sh builds (docs/sqlite-module.md, step 1) before
// the worker uses it:
//
//	go run ./internal/wasmcheck -exports EXPORTS.txt -absent a,b MODULE.wasm
//
// It checks that the module exports every function go-sqlite3-wasm's
// build/exports.txt names (the replacement package forwards to each of them
// by name), less the names given to -absent; that it is a
// position-independent side module (a dylink.0 section) importing its
// memory instead of defining one; and that no function in it runs
// memory.grow, because Go's runtime alone may grow the memory they share
// (runtime/mem_wasm.go's sbrk keeps the bound it last grew to, and would
// hand out pages SQLite had taken). It decodes the module itself, so the
// project needs no wabt.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

func main() {
	exports := flag.String("exports", "", "file of names the module must export, one a line")
	absent := flag.String("absent", "", "comma-separated names of -exports the module need not export")
	flag.Parse()
	if flag.NArg() != 1 || *exports == "" {
		fmt.Fprintln(os.Stderr, "usage: wasmcheck -exports EXPORTS.txt [-absent a,b] MODULE.wasm")
		os.Exit(2)
	}
	bin, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasmcheck:", err)
		os.Exit(1)
	}
	list, err := os.ReadFile(*exports)
	if err != nil {
		fmt.Fprintln(os.Stderr, "wasmcheck:", err)
		os.Exit(1)
	}
	var skip []string
	if *absent != "" {
		skip = strings.Split(*absent, ",")
	}
	problems, err := check(bin, strings.Fields(string(list)), skip)
	if err != nil {
		fmt.Fprintf(os.Stderr, "wasmcheck: %s: %v\n", flag.Arg(0), err)
		os.Exit(1)
	}
	for _, p := range problems {
		fmt.Fprintf(os.Stderr, "wasmcheck: %s: %s\n", flag.Arg(0), p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
	fmt.Printf("wasmcheck: %s: ok (%d B)\n", flag.Arg(0), len(bin))
}

// check returns what is wrong with the module bin (none: ok), or an error
// when bin cannot be decoded.
func check(bin []byte, want, absent []string) ([]string, error) {
	m, err := parse(bin)
	if err != nil {
		return nil, err
	}
	var problems []string
	if !m.dylink {
		problems = append(problems, "no dylink.0 section: not a side module (-fPIC, wasm-ld --experimental-pic -shared)")
	}
	if m.definesMemory {
		problems = append(problems, "defines its own memory: it must import Go's")
	}
	if !m.importsMemory {
		problems = append(problems, "imports no memory")
	}
	skip := map[string]bool{}
	for _, n := range absent {
		skip[n] = true
	}
	for _, n := range want {
		if skip[n] {
			continue
		}
		switch k, ok := m.exports[n]; {
		case !ok:
			problems = append(problems, "does not export "+n)
		case k != kindFunc:
			problems = append(problems, fmt.Sprintf("exports %s, but not as a function (kind %d)", n, k))
		}
	}
	for _, f := range m.grows {
		problems = append(problems, fmt.Sprintf("function %d runs memory.grow", f))
	}
	return problems, nil
}
