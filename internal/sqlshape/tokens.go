package sqlshape

import "strings"

type tokenKind uint8

const (
	bare   tokenKind = iota // a word: keyword or identifier
	quoted                  // "identifier", `identifier` or [identifier]
	str                     // 'string'
	number                  // numeric literal
	param                   // ?, ?NNN, :name, @name, $name
	punct                   // any other single character
)

type token struct {
	kind       tokenKind
	start, end int
	src        string // the whole statement
}

func (t token) text() string { return t.src[t.start:t.end] }

func (t token) is(p string) bool { return t.kind == punct && t.src[t.start:t.end] == p }

func (t token) upper() string { return strings.ToUpper(t.src[t.start:t.end]) }

func (t token) keyword(words ...string) bool {
	if t.kind != bare {
		return false
	}
	for _, w := range words {
		if strings.EqualFold(t.src[t.start:t.end], w) {
			return true
		}
	}
	return false
}

// name is an identifier's name: a bare word as written, a quoted one
// without its quotes (a doubled closing quote stands for one).
func (t token) name() string {
	s := t.src[t.start:t.end]
	if t.kind != quoted {
		return s
	}
	switch s[0] {
	case '[':
		return s[1 : len(s)-1]
	case '"':
		return strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
	default:
		return strings.ReplaceAll(s[1:len(s)-1], "``", "`")
	}
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// tokenize splits sql into tokens, dropping whitespace and comments. An
// unterminated string, identifier or comment is refused.
func tokenize(sql string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(sql) {
		c := sql[i]
		start := i
		kind := punct
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
			continue
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
			continue
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return nil, refuse("an unterminated comment")
			}
			i += end + 4
			continue
		case c == '\'' || c == '"' || c == '`':
			kind = quoted
			if c == '\'' {
				kind = str
			}
			i++
			for {
				j := strings.IndexByte(sql[i:], c)
				if j < 0 {
					return nil, refuse("an unterminated quote")
				}
				i += j + 1
				if i < len(sql) && sql[i] == c {
					i++ // a doubled quote
					continue
				}
				break
			}
		case c == '[':
			j := strings.IndexByte(sql[i:], ']')
			if j < 0 {
				return nil, refuse("an unterminated [identifier]")
			}
			kind = quoted
			i += j + 1
		case '0' <= c && c <= '9' || c == '.' && i+1 < len(sql) && '0' <= sql[i+1] && sql[i+1] <= '9':
			kind = number
			for i++; i < len(sql); i++ {
				if (sql[i] == '+' || sql[i] == '-') && (sql[i-1] == 'e' || sql[i-1] == 'E') {
					continue
				}
				if !isWordByte(sql[i]) && sql[i] != '.' {
					break
				}
			}
		case c == '?' || c == ':' || c == '@' || c == '$':
			kind = param
			for i++; i < len(sql) && isWordByte(sql[i]); i++ {
			}
		case isWordByte(c):
			kind = bare
			for i++; i < len(sql) && isWordByte(sql[i]); i++ {
			}
		default:
			i++
		}
		toks = append(toks, token{kind: kind, start: start, end: i, src: sql})
	}
	return toks, nil
}
