// Command wasmsize reports where a Go wasm build's bytes go: code by Go
// package (and the translated SQLite's code by feature), the data section
// by what it holds, and the raw, gzip and brotli size of the bundle as
// shipped. It builds the package twice for js/wasm: as `make wasm` does
// (-trimpath, its -gcflags, -ldflags='-s -w', data segments merged by
// internal/wasmdata: the sizes a browser downloads) and without -s -w, whose wasm keeps the name section that
// attributes code to functions.
//
// Beside it, it builds the floors (./internal/wasmsize/floor/...) with the
// same flags: the Go runtime with fmt, and go-sqlite3 answering `select 1`,
// the bytes any worker built on go-sqlite3 ships before its own code.
//
// With -modfile and -sqlite, as make size passes them for the default
// build, the builds select the replacement package (go.wasm.mod) and the
// shipped sizes include the SQLite module the worker carries as its custom
// section (internal/wasmembed); the code tables are then Go's alone.
//
//	go run ./internal/wasmsize [-gcflags 'PATTERN=FLAGS' ...] [-modfile go.wasm.mod -sqlite SQLITE.wasm] ./wasm     (make size)
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/hearthdb/hearth/internal/wasmdata"
)

func main() {
	quality := flag.Int("brotli", 11, "brotli quality for the shipped size (11 as the brotli program's -q 11; internal/bundle serves 9)")
	top := flag.Int("top", 25, "packages listed before the rest are summed")
	var gcflags []string
	flag.Func("gcflags", "go build -gcflags for every build, one PATTERN=FLAGS each, repeatable (make size passes make wasm's)", func(v string) error {
		gcflags = append(gcflags, v)
		return nil
	})
	floors := flag.Bool("floors", true, "also build and measure the floor programs (internal/wasmsize/floor)")
	compare := flag.String("compare", "", "a wasm file measured in the floors table (make size: the official build's sqlite3.wasm)")
	modfile := flag.String("modfile", "", "go build -modfile for every build (make size: go.wasm.mod for the module build)")
	sqlite := flag.String("sqlite", "", "the SQLite module the worker and the go-sqlite3 floor carry (counted in their shipped sizes)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: wasmsize [-brotli Q] [-top N] [-gcflags PATTERN=FLAGS ...] [-modfile F -sqlite MODULE] [-floors=false] [-compare FILE] PACKAGE (from the repository's root)")
		os.Exit(2)
	}
	if err := run(os.Stdout, flag.Arg(0), options{gcflags, *modfile, *sqlite, *compare, *quality, *top, *floors}); err != nil {
		fmt.Fprintln(os.Stderr, "wasmsize:", err)
		os.Exit(1)
	}
}

// floorPrograms are the reference programs the floors table measures.
var floorPrograms = []struct {
	pkg, what string
	sqlite    bool // carries the SQLite module, in the module build
}{
	{"./internal/wasmsize/floor/sqlite", "go-sqlite3 opening a memory database and answering `select 1`", true},
	{"./internal/wasmsize/floor/goruntime", "the Go runtime and fmt", false},
}

// options are the command's flags.
type options struct {
	gcflags                  []string
	modfile, sqlite, compare string
	quality, top             int
	floors                   bool
}

func run(out io.Writer, pkg string, o options) error {
	gcflags, quality, top := o.gcflags, o.quality, o.top
	var module []byte // the SQLite module the shipped worker carries
	if o.sqlite != "" {
		var err error
		if module, err = os.ReadFile(o.sqlite); err != nil {
			return err
		}
	}
	dir, err := os.MkdirTemp("", "wasmsize")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	named, shipped := filepath.Join(dir, "named.wasm"), filepath.Join(dir, "shipped.wasm")
	build := []string{"build", "-trimpath"}
	for _, f := range gcflags {
		build = append(build, "-gcflags="+f)
	}
	if o.modfile != "" {
		build = append(build, "-modfile="+o.modfile)
	}
	if err := goCmd(nil, append(build, "-o", named, pkg)...); err != nil {
		return err
	}
	if err := shippedBuild(build, shipped, pkg); err != nil {
		return err
	}
	var deps bytes.Buffer
	list := []string{"list", "-deps"}
	if o.modfile != "" {
		list = append(list, "-modfile="+o.modfile)
	}
	if err := goCmd(&deps, append(list, pkg)...); err != nil {
		return err
	}
	nb, err := os.ReadFile(named)
	if err != nil {
		return err
	}
	m, err := parse(nb)
	if err != nil {
		return err
	}
	if len(m.Names) == 0 {
		return fmt.Errorf("%s has no function names", named)
	}
	shippedSize, err := measure(shipped, quality, module)
	if err != nil {
		return err
	}
	r := report{m: m, pkgs: strings.Fields(deps.String()), shipped: shippedSize, quality: quality, gcflags: gcflags}
	if err := r.write(out, top); err != nil || !o.floors {
		return err
	}
	fmt.Fprintf(out, "\nFloors (built with the same flags):\n\n| program | raw | gzip -9 | brotli -q %d |\n| --- | ---: | ---: | ---: |\n", quality)
	fmt.Fprintf(out, "| %s | %s |\n", pkg, shippedSize)
	for _, f := range floorPrograms {
		wasm := filepath.Join(dir, filepath.Base(f.pkg)+".wasm")
		if err := shippedBuild(build, wasm, f.pkg); err != nil {
			return err
		}
		var carried []byte // the go-sqlite3 floor carries SQLite as the worker does
		if f.sqlite {
			carried = module
		}
		size, err := measure(wasm, quality, carried)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "| %s (%s) | %s |\n", f.what, f.pkg, size)
	}
	if module != nil {
		size, err := measure(o.sqlite, quality, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "| of which the SQLite module alone: %s | %s |\n", o.sqlite, size)
	}
	if o.compare != "" {
		size, err := measure(o.compare, quality, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "| for comparison: %s | %s |\n", o.compare, size)
	}
	return nil
}

// shippedBuild builds pkg to path as make wasm does: stripped (-s -w),
// then its data segments merged (internal/wasmpack).
func shippedBuild(build []string, path, pkg string) error {
	if err := goCmd(nil, append(build, "-ldflags=-s -w", "-o", path, pkg)...); err != nil {
		return err
	}
	bin, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	packed, _, err := wasmdata.Pack(bin, wasmdata.DefaultGap)
	if err != nil {
		return fmt.Errorf("%s: %w", pkg, err)
	}
	return os.WriteFile(path, packed, 0o644)
}

// sizes is a file's size raw, gzip -9 and brotli.
type sizes struct{ raw, gzip, brotli int }

// String is the three as cells of a markdown table's row.
func (s sizes) String() string {
	return thousands(s.raw) + " | " + thousands(s.gzip) + " | " + thousands(s.brotli)
}

// measure reads path and compresses it both ways, with the bytes of a
// module it carries appended (its custom section's header, a few bytes,
// left out).
func measure(path string, quality int, carried []byte) (sizes, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return sizes{}, err
	}
	b = append(b, carried...)
	gz, err := gzipSize(b)
	if err != nil {
		return sizes{}, err
	}
	br, err := brotliSize(b, quality)
	return sizes{len(b), gz, br}, err
}

// goCmd runs the go command for js/wasm.
func goCmd(stdout io.Writer, args ...string) error {
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	cmd.Stdout, cmd.Stderr = stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

func gzipSize(b []byte) (int, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(b); err != nil {
		return 0, err
	}
	err = w.Close()
	return buf.Len(), err
}

// brotliSize compresses with the brotli program's window (2^24), as
// e2e/bench/sizes.mjs does.
func brotliSize(b []byte, quality int) (int, error) {
	var buf bytes.Buffer
	w := brotli.NewWriterOptions(&buf, brotli.WriterOptions{Quality: quality, LGWin: 24})
	if _, err := w.Write(b); err != nil {
		return 0, err
	}
	err := w.Close()
	return buf.Len(), err
}

// linkerName is how the Go linker writes a symbol into the wasm name
// section: every character other than a letter, digit, _ or . becomes _
// (cmd/link/internal/wasm, nameRegexp).
var linkerName = regexp.MustCompile(`[^\w.]`)

// sqliteModule is the package holding SQLite translated to Go.
const sqliteModule = "github.com/ncruces/go-sqlite3-wasm/v6"

type report struct {
	m       *module
	pkgs    []string
	shipped sizes
	quality int
	gcflags []string
}

// packageOf attributes a function name to the longest package path that
// prefixes it; the rest are the linker's own (type equality, wrappers…).
func packageOf(name string, mangled map[string]string) string {
	best := ""
	for i := strings.IndexByte(name, '.'); i >= 0; {
		if p, ok := mangled[name[:i]]; ok {
			best = p
		}
		j := strings.IndexByte(name[i+1:], '.')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	if best != "" {
		return best
	}
	if strings.HasPrefix(name, "type_") {
		return "(type equality and hash functions)"
	}
	return "(other: " + strings.SplitN(name, ".", 2)[0] + ")"
}

// sqliteFeatures sorts the translated SQLite's functions into the features
// a custom build could leave out, by their C names; the first match wins.
var sqliteFeatures = []struct {
	name string
	re   *regexp.Regexp
}{
	{"JSON functions", regexp.MustCompile(`(?i)json`)},
	{"window functions", regexp.MustCompile(`(?i)window|ntile|nth_value|first_value|last_value|percent_rank|cume_dist|dense_rank|row_number|^_rank`)},
	{"date and time functions", regexp.MustCompile(`(?i)date|time|julian|ymd|hms|strftime|parseModifier|computeJD|localtime`)},
	{"ANALYZE and STAT4", regexp.MustCompile(`(?i)analy|stat4|stat_|statAccum|statPush|statGet|statInit`)},
	{"virtual tables and their modules", regexp.MustCompile(`(?i)vtab|vtable|pragmaVtab|bytecodevtab|carray|series`)},
	{"extensions: decimal, ieee754, regexp, uint, soundex, math", regexp.MustCompile(`(?i)decimal|ieee754|^_re_|regexp|uint|soundex|^_math|trunc|log|pow|acos|asin|atan|cosh|sinh|tanh|radians|degrees`)},
	{"PRAGMA", regexp.MustCompile(`(?i)pragma`)},
	{"parser and tokenizer", regexp.MustCompile(`(?i)parser|yy_|token|keyword`)},
	{"query planner (where.c)", regexp.MustCompile(`(?i)where|indexable|exprAnalyze|orderby`)},
	{"code generator (select, insert, update, delete, expr, build)", regexp.MustCompile(`(?i)select|insert|update|delete|expr|resolve|build|createindex|createtable|endtable|trigger|fkey|upsert|returning|constraint|altertable|rename|drop`)},
	{"virtual machine (vdbe)", regexp.MustCompile(`(?i)vdbe|mem|value|step|column|bind|result`)},
	{"b-tree, pager, WAL, VFS", regexp.MustCompile(`(?i)btree|balance|cell|page|pager|wal|vfs|journal|cursor|os|file|lock|ovfl|freelist`)},
}

func (r report) write(out io.Writer, top int) error {
	m := r.m
	mangled := map[string]string{}
	for _, p := range r.pkgs {
		mangled[linkerName.ReplaceAllString(p, "_")] = p
	}
	byPkg := map[string]int{}
	bySQLite := map[string]int{}
	code := 0
	for i, size := range m.Bodies {
		name := m.Names[uint32(m.Imported+i)]
		pkg := packageOf(name, mangled)
		byPkg[pkg] += size
		code += size
		if pkg == sqliteModule {
			fn := strings.TrimPrefix(name[len(linkerName.ReplaceAllString(pkg, "_"))+1:], "__Module_.")
			feature := "the rest of the core (functions, printf, malloc, hash tables, …)"
			for _, f := range sqliteFeatures {
				if f.re.MatchString(fn) {
					feature = f.name
					break
				}
			}
			bySQLite[feature] += size
		}
	}

	fmt.Fprintf(out, "Shipped bundle (-trimpath -gcflags='%s' -ldflags='-s -w', data segments merged): %s raw, %s gzip -9, %s brotli -q %d\n\n",
		strings.Join(r.gcflags, "' -gcflags='"), mb(r.shipped.raw), mb(r.shipped.gzip), mb(r.shipped.brotli), r.quality)
	fmt.Fprintf(out, "Sections of the build with names (%s):\n\n| section | bytes | share |\n| --- | ---: | ---: |\n", mb(m.Size))
	for _, kv := range sorted(m.Sections) {
		if kv.v*1000 >= m.Size {
			fmt.Fprintf(out, "| %s | %s | %s |\n", kv.k, thousands(kv.v), share(kv.v, m.Size))
		}
	}

	fmt.Fprintf(out, "\nCode by Go package (%d functions, %s bytes):\n\n| package | bytes | share |\n| --- | ---: | ---: |\n", len(m.Bodies), thousands(code))
	rest, restN := 0, 0
	for i, kv := range sorted(byPkg) {
		if i < top {
			fmt.Fprintf(out, "| %s | %s | %s |\n", kv.k, thousands(kv.v), share(kv.v, code))
		} else {
			rest += kv.v
			restN++
		}
	}
	if restN > 0 {
		fmt.Fprintf(out, "| %d other packages | %s | %s |\n", restN, thousands(rest), share(rest, code))
	}

	if total := byPkg[sqliteModule]; total > 0 {
		fmt.Fprintf(out, "\nSQLite's translated code by feature (by C function name; %s bytes):\n\n| feature | bytes | share |\n| --- | ---: | ---: |\n", thousands(total))
		for _, kv := range sorted(bySQLite) {
			fmt.Fprintf(out, "| %s | %s | %s |\n", kv.k, thousands(kv.v), share(kv.v, total))
		}
	}

	if data := m.Sections["data"]; data > 0 {
		fmt.Fprintf(out, "\nData section (%s bytes in %d segments):\n\n", thousands(data), len(m.Segments))
		parts, err := goDataParts(m.Segments, data)
		if err != nil {
			fmt.Fprintf(out, "(not broken down: %v)\n", err)
			return nil
		}
		fmt.Fprintf(out, "| part | bytes | share |\n| --- | ---: | ---: |\n")
		for _, p := range parts {
			fmt.Fprintf(out, "| %s | %s | %s |\n", p.Name, thousands(p.Bytes), share(p.Bytes, data))
		}
	}
	return nil
}

type kv struct {
	k string
	v int
}

// sorted lists a map largest first, ties by name.
func sorted(m map[string]int) []kv {
	s := make([]kv, 0, len(m))
	for k, v := range m {
		s = append(s, kv{k, v})
	}
	sort.Slice(s, func(i, j int) bool {
		if s[i].v != s[j].v {
			return s[i].v > s[j].v
		}
		return s[i].k < s[j].k
	})
	return s
}

func mb(n int) string { return fmt.Sprintf("%.2f MB (%s B)", float64(n)/1e6, thousands(n)) }

func share(n, total int) string { return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(total)) }

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
