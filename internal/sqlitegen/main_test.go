package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The committed replacement package is what the generator makes from the
// go-sqlite3-wasm version go.mod requires: after a go-sqlite3 upgrade,
// go run ./internal/sqlitegen brings it up to date.
func TestGeneratedUpToDate(t *testing.T) {
	dir, err := moduleDir()
	if err != nil {
		t.Fatal(err)
	}
	files, err := generate(filepath.Join(dir, "sqlite3.go"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join("..", "sqlite3wasm", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("internal/sqlite3wasm/%s is not what go run ./internal/sqlitegen makes", name)
		}
	}
}

// go.wasm.mod is go.mod plus the replace that selects the replacement,
// and go.wasm.sum is go.sum, so that the worker's build with the clang
// module has the same dependencies as every other build.
func TestWasmModFile(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	mod, wasmMod := read("go.mod"), read("go.wasm.mod")
	rest, ok := strings.CutPrefix(wasmMod, mod)
	if !ok {
		t.Fatal("go.wasm.mod does not start with go.mod: copy go.mod's changes into it")
	}
	var directives []string
	for _, line := range strings.Split(rest, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "//") {
			directives = append(directives, line)
		}
	}
	if want := "replace " + module + " => ./internal/sqlite3wasm"; len(directives) != 1 || directives[0] != want {
		t.Errorf("go.wasm.mod adds %q to go.mod, want only %q", directives, want)
	}
	if read("go.sum") != read("go.wasm.sum") {
		t.Error("go.wasm.sum differs from go.sum: copy go.sum to it")
	}
}

func TestGenerateRejectsOtherFiles(t *testing.T) {
	src := filepath.Join(t.TempDir(), "x.go")
	if err := os.WriteFile(src, []byte("package x\n\nfunc F() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := generate(src); err == nil || !strings.Contains(err.Error(), "not go-sqlite3-wasm") {
		t.Fatalf("err = %v", err)
	}
}
