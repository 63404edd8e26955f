package appconfig

import (
	"fmt"
	"strings"
)

// Error is one mistake in a config file, where it is.
type Error struct {
	File      string
	Line, Col int
	// Path is the key path, e.g. tables.notes.scope or invariants[0].sql
	// ("" for the file as a whole).
	Path string
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
	}
	b.WriteString(": ")
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Errors are every mistake found in a config file, in file order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
