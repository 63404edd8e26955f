package appconfig

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// The walker reads the YAML syntax tree rather than decoding into
// structs, for what a decoder does not give: every error with its
// position, all of them at once, and the order of the tables map.

// errAt records a mistake at a node.
func (l *loader) errAt(n ast.Node, path, format string, args ...any) {
	e := &Error{File: l.file, Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		if tok := n.GetToken(); tok != nil && tok.Position != nil {
			e.Line, e.Col = tok.Position.Line, tok.Position.Column
		}
	}
	l.errs = append(l.errs, e)
}

// errAtToken records a mistake at a token (a parse error's).
func (l *loader) errAtToken(tok *token.Token, format string, args ...any) {
	e := &Error{File: l.file, Msg: fmt.Sprintf(format, args...)}
	if tok != nil && tok.Position != nil {
		e.Line, e.Col = tok.Position.Line, tok.Position.Column
	}
	l.errs = append(l.errs, e)
}

// entry is one key of a mapping.
type entry struct {
	key   string
	keyAt ast.Node
	value ast.Node
	path  string
}

// unwrap skips comments and refuses anchors, aliases and tags: a config
// says each thing once, where it is read.
func (l *loader) unwrap(n ast.Node, path string) (ast.Node, bool) {
	switch v := n.(type) {
	case nil:
		return nil, true
	case *ast.CommentGroupNode:
		return nil, true
	case *ast.AnchorNode, *ast.AliasNode:
		l.errAt(n, path, "anchors and aliases are not supported")
		return nil, false
	case *ast.TagNode:
		l.errAt(n, path, "tags are not supported")
		return nil, false
	case *ast.MappingKeyNode:
		l.errAt(n, path, "complex keys are not supported")
		return nil, false
	default:
		return v, true
	}
}

// mapping returns a mapping's entries, checking each key against known
// (in the order of the file); null is an empty mapping.
func (l *loader) mapping(n ast.Node, path string, known ...string) ([]entry, bool) {
	n, ok := l.unwrap(n, path)
	if !ok {
		return nil, false
	}
	var values []*ast.MappingValueNode
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return nil, true
	case *ast.MappingNode:
		values = v.Values
	case *ast.MappingValueNode:
		values = []*ast.MappingValueNode{v}
	default:
		l.errAt(n, path, "want a mapping (key: value), got %s", describe(n))
		return nil, false
	}
	var out []entry
	seen := map[string]bool{}
	ok = true
	for _, mv := range values {
		keyNode, kok := l.unwrap(mv.Key, path)
		if !kok {
			ok = false
			continue
		}
		key, isStr := scalarText(keyNode)
		if !isStr {
			l.errAt(mv.Key, path, "a key must be a plain string")
			ok = false
			continue
		}
		p := key
		if path != "" {
			p = path + "." + key
		}
		if seen[key] {
			l.errAt(mv.Key, p, "duplicate key")
			ok = false
			continue
		}
		seen[key] = true
		if known != nil && !slices.Contains(known, key) {
			l.errAt(mv.Key, p, "unknown key (known: %s)", strings.Join(known, ", "))
			ok = false
			continue
		}
		out = append(out, entry{key: key, keyAt: mv.Key, value: mv.Value, path: p})
	}
	return out, ok
}

// scalarText is a string or plain scalar key's text.
func scalarText(n ast.Node) (string, bool) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode:
		return v.GetToken().Value, true
	}
	return "", false
}

func describe(n ast.Node) string {
	switch n.(type) {
	case *ast.StringNode, *ast.LiteralNode:
		return "a string"
	case *ast.IntegerNode:
		return "an integer"
	case *ast.FloatNode:
		return "a number"
	case *ast.BoolNode:
		return "a boolean"
	case *ast.NullNode:
		return "nothing"
	case *ast.SequenceNode:
		return "a list"
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	}
	return strings.ToLower(n.Type().String())
}

// str reads a string (plain, quoted or a | block).
func (l *loader) str(e entry) (string, bool) {
	n, ok := l.unwrap(e.value, e.path)
	if !ok {
		return "", false
	}
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, true
	case *ast.LiteralNode:
		return v.Value.Value, true
	case nil, *ast.NullNode:
		return "", true
	}
	l.errAt(n, e.path, "want a string, got %s", describe(n))
	return "", false
}

// nonEmpty reads a string that must be set.
func (l *loader) nonEmpty(e entry) (string, bool) {
	s, ok := l.str(e)
	if ok && strings.TrimSpace(s) == "" {
		at := e.value
		if at == nil {
			at = e.keyAt
		}
		l.errAt(at, e.path, "must not be empty")
		return "", false
	}
	return s, ok
}

// strings reads a list of strings (a single string is not a list).
func (l *loader) strList(e entry) ([]string, bool) {
	n, ok := l.unwrap(e.value, e.path)
	if !ok {
		return nil, false
	}
	switch v := n.(type) {
	case nil, *ast.NullNode:
		return []string{}, true
	case *ast.SequenceNode:
		out := []string{}
		ok := true
		for i, item := range v.Values {
			s, sok := l.str(entry{value: item, path: fmt.Sprintf("%s[%d]", e.path, i)})
			if !sok {
				ok = false
				continue
			}
			out = append(out, s)
		}
		return out, ok
	}
	l.errAt(n, e.path, "want a list of strings, got %s", describe(n))
	return nil, false
}

// integer reads a non-negative integer.
func (l *loader) integer(e entry) (int64, bool) {
	n, ok := l.unwrap(e.value, e.path)
	if !ok {
		return 0, false
	}
	if v, isInt := n.(*ast.IntegerNode); isInt {
		switch i := v.Value.(type) {
		case int64:
			if i >= 0 {
				return i, true
			}
		case uint64:
			if i <= math.MaxInt64 {
				return int64(i), true
			}
		}
		l.errAt(n, e.path, "want a non-negative integer, got %s", v.GetToken().Value)
		return 0, false
	}
	l.errAt(n, e.path, "want a non-negative integer, got %s", describe(n))
	return 0, false
}

// number reads a non-negative number.
func (l *loader) number(e entry) (float64, bool) {
	n, ok := l.unwrap(e.value, e.path)
	if !ok {
		return 0, false
	}
	switch v := n.(type) {
	case *ast.IntegerNode, *ast.FloatNode:
		f, err := strconv.ParseFloat(v.GetToken().Value, 64)
		if err == nil && f >= 0 && !math.IsInf(f, 0) {
			return f, true
		}
		l.errAt(n, e.path, "want a non-negative number, got %s", v.GetToken().Value)
		return 0, false
	}
	l.errAt(n, e.path, "want a non-negative number, got %s", describe(n))
	return 0, false
}

// duration reads a Go duration such as 5m or 1h30m.
func (l *loader) duration(e entry) (time.Duration, bool) {
	n, ok := l.unwrap(e.value, e.path)
	if !ok {
		return 0, false
	}
	if v, isStr := n.(*ast.StringNode); isStr {
		d, err := time.ParseDuration(v.Value)
		if err == nil && d >= 0 {
			return d, true
		}
		l.errAt(n, e.path, "want a duration such as 5m or 1h, got %q", v.Value)
		return 0, false
	}
	l.errAt(n, e.path, "want a duration such as 5m or 1h, got %s", describe(n))
	return 0, false
}

// boolean reads true or false.
func (l *loader) boolean(e entry) (bool, bool) {
	n, ok := l.unwrap(e.value, e.path)
	if !ok {
		return false, false
	}
	if v, isBool := n.(*ast.BoolNode); isBool {
		return v.Value, true
	}
	l.errAt(n, e.path, "want true or false, got %s", describe(n))
	return false, false
}
