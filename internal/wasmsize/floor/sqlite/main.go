// Command sqlite is the smallest program that hosts SQLite through
// go-sqlite3: it opens a memory database and answers `select 1`.
// wasmsize builds it beside the worker with the same flags: what any
// js/wasm worker built on go-sqlite3 downloads before its own code
// (docs/bundle-size.md).
package main

import (
	"fmt"
	"os"

	"github.com/ncruces/go-sqlite3"
	_ "github.com/ncruces/go-sqlite3/vfs/memdb"
)

func main() {
	db, err := sqlite3.Open("file:/floor?vfs=memdb")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer db.Close()
	s, _, err := db.Prepare("select 1")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer s.Close()
	if s.Step() {
		fmt.Println(s.ColumnInt(0))
	}
}
