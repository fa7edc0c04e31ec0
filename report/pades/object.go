package pades

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// The PDF object model, as far as an incremental update needs it (ISO
// 32000-1 §7.3). Numbers and strings keep their source bytes, so an object
// read and written back is the same object: nothing is reformatted but the
// whitespace between tokens.
type (
	// name is a PDF name without its slash, still in its source form (#xx escapes).
	name string
	// raw is a number, a string (literal or hex), a boolean or null, exactly as written.
	raw []byte
	// ref is an indirect reference "num gen R".
	ref struct{ num, gen int }
	// array is a PDF array.
	array []object
	// dict is a PDF dictionary; keys keep their order.
	dict struct {
		keys []name
		vals []object
	}
)

// object is one of name, raw, ref, array or *dict.
type object any

// get is the value of key k, or nil.
func (d *dict) get(k name) object {
	for i, key := range d.keys {
		if key == k {
			return d.vals[i]
		}
	}
	return nil
}

// set replaces the value of k, or appends k.
func (d *dict) set(k name, v object) {
	for i, key := range d.keys {
		if key == k {
			d.vals[i] = v
			return
		}
	}
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

// write appends the PDF form of o to b.
func write(b *bytes.Buffer, o object) {
	switch v := o.(type) {
	case name:
		b.WriteByte('/')
		b.WriteString(string(v))
	case raw:
		b.Write(v)
	case ref:
		fmt.Fprintf(b, "%d %d R", v.num, v.gen)
	case array:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteByte(' ')
			}
			write(b, e)
		}
		b.WriteByte(']')
	case *dict:
		b.WriteString("<<")
		for i, k := range v.keys {
			b.WriteString(" /")
			b.WriteString(string(k))
			b.WriteByte(' ')
			write(b, v.vals[i])
		}
		b.WriteString(" >>")
	}
}

// errSyntax is wrapped by every parse error.
var errSyntax = errors.New("PDF syntax")

// lexer reads PDF tokens from src starting at pos (§7.2).
type lexer struct {
	src []byte
	pos int
}

func isSpace(c byte) bool {
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '
}

func isDelim(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}

// skip passes whitespace and comments.
func (l *lexer) skip() {
	for l.pos < len(l.src) {
		c := l.src[l.pos]
		switch {
		case isSpace(c):
			l.pos++
		case c == '%':
			for l.pos < len(l.src) && l.src[l.pos] != '\n' && l.src[l.pos] != '\r' {
				l.pos++
			}
		default:
			return
		}
	}
}

// regular reads a run of regular characters: a number or keyword.
func (l *lexer) regular() []byte {
	start := l.pos
	for l.pos < len(l.src) && !isSpace(l.src[l.pos]) && !isDelim(l.src[l.pos]) {
		l.pos++
	}
	return l.src[start:l.pos]
}

// keyword reads the next token and reports whether it is the keyword kw.
func (l *lexer) keyword(kw string) bool {
	l.skip()
	save := l.pos
	if string(l.regular()) == kw {
		return true
	}
	l.pos = save
	return false
}

// integer reads a non-negative integer token.
func (l *lexer) integer() (int, bool) {
	l.skip()
	save := l.pos
	n, err := strconv.Atoi(string(l.regular()))
	if err != nil || n < 0 {
		l.pos = save
		return 0, false
	}
	return n, true
}

func (l *lexer) errorf(format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", errSyntax, l.pos, fmt.Sprintf(format, args...))
}

// maxDepth bounds nesting, so a hostile file cannot exhaust the stack.
const maxDepth = 64

// object reads one object, resolving "num gen R" into a ref.
func (l *lexer) object(depth int) (object, error) {
	if depth > maxDepth {
		return nil, l.errorf("nested too deeply")
	}
	l.skip()
	if l.pos >= len(l.src) {
		return nil, l.errorf("unexpected end")
	}
	start := l.pos
	switch c := l.src[l.pos]; {
	case c == '/':
		l.pos++
		return name(l.regular()), nil
	case c == '(':
		if err := l.literal(); err != nil {
			return nil, err
		}
		return raw(l.src[start:l.pos]), nil
	case c == '<' && l.pos+1 < len(l.src) && l.src[l.pos+1] == '<':
		l.pos += 2
		return l.dict(depth)
	case c == '<':
		end := bytes.IndexByte(l.src[l.pos:], '>')
		if end < 0 {
			return nil, l.errorf("unterminated hex string")
		}
		l.pos += end + 1
		return raw(l.src[start:l.pos]), nil
	case c == '[':
		l.pos++
		var a array
		for {
			l.skip()
			if l.pos < len(l.src) && l.src[l.pos] == ']' {
				l.pos++
				return a, nil
			}
			o, err := l.object(depth + 1)
			if err != nil {
				return nil, err
			}
			a = append(a, o)
		}
	case isDelim(c):
		return nil, l.errorf("unexpected %q", c)
	}
	tok := l.regular()
	if n, err := strconv.Atoi(string(tok)); err == nil && n >= 0 {
		// "num gen R" is a reference; otherwise the number stands alone.
		save := l.pos
		if gen, ok := l.integer(); ok && l.keyword("R") {
			return ref{n, gen}, nil
		}
		l.pos = save
	}
	return raw(tok), nil
}

// literal passes a literal string: balanced parentheses, backslash escapes (§7.3.4.2).
func (l *lexer) literal() error {
	depth := 0
	for ; l.pos < len(l.src); l.pos++ {
		switch l.src[l.pos] {
		case '\\':
			l.pos++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				l.pos++
				return nil
			}
		}
	}
	return l.errorf("unterminated string")
}

// dict reads a dictionary's entries after its "<<".
func (l *lexer) dict(depth int) (*dict, error) {
	d := &dict{}
	for {
		l.skip()
		if bytes.HasPrefix(l.src[l.pos:], []byte(">>")) {
			l.pos += 2
			return d, nil
		}
		if l.pos >= len(l.src) || l.src[l.pos] != '/' {
			return nil, l.errorf("dictionary key expected")
		}
		l.pos++
		k := name(l.regular())
		v, err := l.object(depth + 1)
		if err != nil {
			return nil, err
		}
		d.set(k, v)
	}
}
