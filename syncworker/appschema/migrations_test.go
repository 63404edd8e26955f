package appschema

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestReadMigrations(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_more.sql":  {Data: []byte("CREATE TABLE b(id TEXT PRIMARY KEY);")},
		"m/0001_first.sql": {Data: []byte("CREATE TABLE a(id TEXT PRIMARY KEY);")},
		"m/10_later.sql":   {Data: []byte("CREATE TABLE c(id TEXT PRIMARY KEY);")},
		"m/README.md":      {Data: []byte("notes")},
	}
	got, err := ReadMigrations(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{1, 2, 10}
	if len(got) != len(want) {
		t.Fatalf("got %d migrations, want %d", len(got), len(want))
	}
	for i, m := range got {
		if m.Version != want[i] {
			t.Errorf("migration %d: version %d, want %d", i, m.Version, want[i])
		}
	}
	if !strings.Contains(got[0].SQL, "TABLE a") || !strings.Contains(got[2].SQL, "TABLE c") {
		t.Errorf("SQL not read in version order: %+v", got)
	}
}

func TestReadMigrationsErrors(t *testing.T) {
	sql := []byte("SELECT 1;")
	for _, tc := range []struct {
		name string
		fs   fstest.MapFS
		want string
	}{
		{"duplicate", fstest.MapFS{"m/0001_a.sql": {Data: sql}, "m/001_b.sql": {Data: sql}}, "version 1 is also m/0001_a.sql"},
		{"not sql", fstest.MapFS{"m/0001_a.sql": {Data: sql}, "m/notes.txt": {Data: sql}}, "m/notes.txt: not a migration"},
		{"no version", fstest.MapFS{"m/first.sql": {Data: sql}}, "m/first.sql: want NNNN_name.sql"},
		{"no name", fstest.MapFS{"m/0001_.sql": {Data: sql}}, "m/0001_.sql: want NNNN_name.sql"},
		{"zero", fstest.MapFS{"m/0000_a.sql": {Data: sql}}, "m/0000_a.sql: version \"0000\""},
		{"empty file", fstest.MapFS{"m/0001_a.sql": {Data: []byte(" \n")}}, "m/0001_a.sql: empty"},
		{"empty dir", fstest.MapFS{"m/README": {Data: sql}}, "m: no NNNN_name.sql files"},
		{"missing dir", fstest.MapFS{"x/0001_a.sql": {Data: sql}}, "migrations: open m"},
		{"subdir", fstest.MapFS{"m/0001_a.sql": {Data: sql}, "m/old/0001_a.sql": {Data: sql}}, "m/old: not a migration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadMigrations(tc.fs, "m")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
