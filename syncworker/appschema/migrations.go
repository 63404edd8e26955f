package appschema

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// ReadMigrations reads an app's migrations from dir in fsys: one file per
// step named NNNN_name.sql, its version the leading integer. Versions
// must be distinct (their order is the files'); anything else in the
// directory other than README files is an error, so that a misnamed
// migration is noticed instead of silently skipped.
func ReadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var out []Migration
	names := map[int64]string{}
	for _, e := range entries {
		name := e.Name()
		file := path.Join(dir, name)
		if strings.HasPrefix(name, "README") {
			continue
		}
		if e.IsDir() || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("migrations: %s: not a migration (want NNNN_name.sql)", file)
		}
		version, err := migrationVersion(name)
		if err != nil {
			return nil, fmt.Errorf("migrations: %s: %w", file, err)
		}
		if other, dup := names[version]; dup {
			return nil, fmt.Errorf("migrations: %s: version %d is also %s", file, version, other)
		}
		names[version] = file
		sql, err := fs.ReadFile(fsys, file)
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		if strings.TrimSpace(string(sql)) == "" {
			return nil, fmt.Errorf("migrations: %s: empty", file)
		}
		out = append(out, Migration{Version: version, SQL: string(sql)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("migrations: %s: no NNNN_name.sql files", dir)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })
	return out, nil
}

// migrationVersion is the leading integer of NNNN_name.sql.
func migrationVersion(name string) (int64, error) {
	digits := 0
	for digits < len(name) && name[digits] >= '0' && name[digits] <= '9' {
		digits++
	}
	if digits == 0 || digits >= len(name) || name[digits] != '_' || len(name) == digits+1+len(".sql") {
		return 0, errors.New("want NNNN_name.sql (a version number, an underscore, a name)")
	}
	v, err := strconv.ParseInt(name[:digits], 10, 64)
	if err != nil || v < 1 {
		return 0, fmt.Errorf("version %q: want a positive integer", name[:digits])
	}
	return v, nil
}
