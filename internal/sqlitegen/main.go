// Command sqlitegen generates the js/wasm replacement of
// github.com/ncruces/go-sqlite3-wasm/v6 in internal/sqlite3wasm
// (docs/sqlite-module.md, step 2) from that module's own sqlite3.go, so
// that the replacement has exactly its API: the Module type's exported
// X… methods, and the Xenv and Memory interfaces go-sqlite3 implements.
//
//	go run ./internal/sqlitegen [-src DIR/sqlite3.go] [-out internal/sqlite3wasm]
//
// It writes, each file for GOOS=js only (the _js.go suffix):
//
//   - imports_js.go: one //go:wasmimport "sqlite" function for each
//     method, taking the instance's id first (web/hearth-worker-boot.js
//     forwards the call to that connection's SQLite instance);
//   - methods_js.go: the methods, each marking its module as the one on
//     the stack (callbacks from C carry no instance) and raising, once
//     SQLite has returned, a panic a callback caught;
//   - exports_js.go: one //go:wasmexport function for each Xenv host
//     function SQLite calls, which calls the connection's Xenv and catches
//     a panic there: a Go panic must not unwind through C frames (it kills
//     the runtime even when recovered above them), so it is held until
//     the SQLite call returns, and the callback returns a value that makes
//     SQLite stop what it is doing (failResult);
//   - types_js.go: the Xenv and Memory interfaces, as upstream.
//
// The rest of the package (New, X_initialize, memory, libc functions) is
// written by hand in module_js.go. By default the source is
// go-sqlite3-wasm at the version go.mod requires.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

const module = "github.com/ncruces/go-sqlite3-wasm/v6"

// handWritten are the methods module_js.go defines: they are no SQLite
// functions to forward (X_initialize instantiates the module; the other two
// hand out the instance's stack pointer and function table).
var handWritten = map[string]bool{
	"X_initialize":               true,
	"X__stack_pointer":           true,
	"X__indirect_function_table": true,
}

// failResult is what a callback returns to SQLite when its Go code
// panicked (and what later callbacks of the same call return, without
// running Go code, until SQLite returns and the panic is raised again):
// SQLITE_ERROR (1) for most, which makes SQLite give up the operation
// (a VFS method fails, a commit hook rolls back, the authorizer denies,
// the progress handler interrupts, a cursor is at its end). The
// exceptions, where 1 would mean "go on":
var failResult = map[string]string{
	"go_busy_handler":           "0", // 1 would retry, and call it again
	"go_busy_timeout":           "0", // likewise
	"go_vfs_find":               "0", // a pointer: no VFS
	"go_randomness":             "0", // a byte count
	"go_autovacuum_pages":       "0", // a page count
	"go_device_characteristics": "0", // flags
	"go_compare":                "0", // an ordering
}

func main() {
	src := flag.String("src", "", "go-sqlite3-wasm's sqlite3.go (default: the version go.mod requires)")
	out := flag.String("out", "internal/sqlite3wasm", "the replacement package's directory")
	flag.Parse()
	if *src == "" {
		dir, err := moduleDir()
		if err != nil {
			fail(err)
		}
		*src = filepath.Join(dir, "sqlite3.go")
	}
	files, err := generate(*src)
	if err != nil {
		fail(err)
	}
	for _, name := range sortedKeys(files) {
		if err := os.WriteFile(filepath.Join(*out, name), files[name], 0o644); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "sqlitegen:", err)
	os.Exit(1)
}

// moduleDir is where the go command keeps go-sqlite3-wasm at the version
// go.mod requires.
func moduleDir() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", module, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("%s is not downloaded (go mod download %s)", module, module)
	}
	return dir, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// param is one parameter of a method or callback, by name and type.
type param struct{ name, typ string }

type signature struct {
	name    string // Go name: Xsqlite3_step, Xgo_read
	params  []param
	results string // "" or one type
}

func (s signature) list() string {
	parts := make([]string, len(s.params))
	for i, p := range s.params {
		parts[i] = p.name + " " + p.typ
	}
	return strings.Join(parts, ", ")
}

func (s signature) args() string {
	parts := make([]string, len(s.params))
	for i, p := range s.params {
		parts[i] = p.name
	}
	return strings.Join(parts, ", ")
}

func signatureOf(name string, ft *ast.FuncType) (signature, error) {
	s := signature{name: name}
	for _, f := range ft.Params.List {
		t := types.ExprString(f.Type)
		if len(f.Names) == 0 {
			return s, fmt.Errorf("%s: unnamed parameter", name)
		}
		for _, n := range f.Names {
			s.params = append(s.params, param{n.Name, t})
		}
	}
	if ft.Results != nil {
		if ft.Results.NumFields() > 1 {
			return s, fmt.Errorf("%s: more than one result", name)
		}
		s.results = types.ExprString(ft.Results.List[0].Type)
	}
	for _, p := range s.params {
		if !scalar(p.typ) {
			return s, fmt.Errorf("%s: parameter of type %s: not a wasm value", name, p.typ)
		}
	}
	if s.results != "" && !scalar(s.results) {
		return s, fmt.Errorf("%s: result of type %s: not a wasm value", name, s.results)
	}
	return s, nil
}

// scalar reports whether a Go type passes through //go:wasmimport and
// //go:wasmexport as a wasm value, the only kind the C side has.
func scalar(t string) bool {
	switch t {
	case "int32", "int64", "float32", "float64":
		return true
	}
	return false
}

// generate reads sqlite3.go and returns the generated files by name.
func generate(src string) (map[string][]byte, error) {
	text, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, src, text, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var methods, callbacks []signature
	var xenv, memory string
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Recv == nil || types.ExprString(d.Recv.List[0].Type) != "*Module" ||
				!strings.HasPrefix(d.Name.Name, "X") || handWritten[d.Name.Name] {
				continue
			}
			s, err := signatureOf(d.Name.Name, d.Type)
			if err != nil {
				return nil, err
			}
			methods = append(methods, s)
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				ts, ok := spec.(*ast.TypeSpec)
				if !ok {
					continue
				}
				switch ts.Name.Name {
				case "Xenv":
					it, ok := ts.Type.(*ast.InterfaceType)
					if !ok {
						return nil, fmt.Errorf("type Xenv is not an interface")
					}
					xenv = source(fset, text, ts.Type)
					for _, m := range it.Methods.List {
						name := m.Names[0].Name
						if !strings.HasPrefix(name, "Xgo_") {
							// Xmemory, and the libc functions only
							// go-sqlite3's tests define (exit, f*, system),
							// which the clang build does not import.
							continue
						}
						s, err := signatureOf(name, m.Type.(*ast.FuncType))
						if err != nil {
							return nil, err
						}
						callbacks = append(callbacks, s)
					}
				case "Memory":
					memory = source(fset, text, ts.Type)
				}
			}
		}
	}
	if len(methods) == 0 || len(callbacks) == 0 || xenv == "" || memory == "" {
		return nil, fmt.Errorf("%s: found %d methods, %d callbacks, Xenv %t, Memory %t: not go-sqlite3-wasm's sqlite3.go?",
			src, len(methods), len(callbacks), xenv != "", memory != "")
	}
	for _, k := range sortedKeys(failResult) {
		found := false
		for _, c := range callbacks {
			found = found || c.name[1:] == k
		}
		if !found {
			return nil, fmt.Errorf("failResult names %s, which Xenv does not have", k)
		}
	}

	header := func(b *bytes.Buffer) {
		fmt.Fprintf(b, "// Code generated by internal/sqlitegen from %s's sqlite3.go. DO NOT EDIT.\n\npackage sqlite3_wasm\n\n", module)
	}
	var imp, meth, exp, typ bytes.Buffer
	header(&imp)
	header(&meth)
	header(&exp)
	header(&typ)
	for _, s := range methods {
		c := s.name[1:]
		sep := ""
		if len(s.params) > 0 {
			sep = ", "
		}
		fmt.Fprintf(&imp, "//go:wasmimport sqlite %s\nfunc imp_%s(inst int32%s%s) %s\n\n", c, c, sep, s.list(), s.results)
		call := fmt.Sprintf("imp_%s(m.id%s%s)", c, sep, s.args())
		fmt.Fprintf(&meth, "func (m *Module) %s(%s) %s {\n\tprev := m.enter()\n", s.name, s.list(), s.results)
		if s.results != "" {
			fmt.Fprintf(&meth, "\tr := %s\n\tm.leave(prev)\n\treturn r\n}\n\n", call)
		} else {
			fmt.Fprintf(&meth, "\t%s\n\tm.leave(prev)\n}\n\n", call)
		}
	}
	for _, s := range callbacks {
		c := s.name[1:]
		call := fmt.Sprintf("m._env.%s(%s)", s.name, s.args())
		if s.results == "" {
			fmt.Fprintf(&exp, "//go:wasmexport %s\nfunc exp_%s(%s) {\n\tm := cur\n\tif m.panicking() {\n\t\treturn\n\t}\n"+
				"\tdefer func() {\n\t\tif p := recover(); p != nil {\n\t\t\tm.hold(p)\n\t\t}\n\t}()\n\t%s\n}\n\n", c, c, s.list(), call)
			continue
		}
		fr := failResult[c]
		if fr == "" {
			fr = "1"
		}
		fmt.Fprintf(&exp, "//go:wasmexport %s\nfunc exp_%s(%s) (r %s) {\n\tm := cur\n\tif m.panicking() {\n\t\treturn %s\n\t}\n"+
			"\tdefer func() {\n\t\tif p := recover(); p != nil {\n\t\t\tm.hold(p)\n\t\t\tr = %s\n\t\t}\n\t}()\n\treturn %s\n}\n\n", c, c, s.list(), s.results, fr, fr, call)
	}
	fmt.Fprintf(&typ, "type Xenv = %s\n\ntype Memory = %s\n", xenv, memory)

	files := map[string][]byte{}
	for name, b := range map[string]*bytes.Buffer{"imports_js.go": &imp, "methods_js.go": &meth, "exports_js.go": &exp, "types_js.go": &typ} {
		src, err := format.Source(b.Bytes())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		files[name] = src
	}
	return files, nil
}

// source is the text of node n as it is in the file, comments and all.
func source(fset *token.FileSet, text []byte, n ast.Node) string {
	return string(text[fset.Position(n.Pos()).Offset:fset.Position(n.End()).Offset])
}
