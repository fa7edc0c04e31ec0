package pades

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// ErrUnsupported is wrapped by Sign's error for a PDF it cannot update:
// one with cross-reference streams (PDF 1.5 compressed files), or whose
// catalog or first page is not where its cross-reference table says.
var ErrUnsupported = errors.New("unsupported PDF")

// file is a parsed PDF: where each object starts and the newest trailer.
type file struct {
	src     []byte
	offsets map[int]int // object number → byte offset, newest section first
	trailer *dict
	xref    int // the offset the last startxref names
}

// parse reads the cross-reference tables and trailers of src, following
// /Prev back to the first (ISO 32000-1 §7.5.4, §7.5.6).
func parse(src []byte) (*file, error) {
	i := bytes.LastIndex(src, []byte("startxref"))
	if i < 0 {
		return nil, fmt.Errorf("%w: no startxref", errSyntax)
	}
	l := &lexer{src: src, pos: i + len("startxref")}
	start, ok := l.integer()
	if !ok || start >= len(src) {
		return nil, fmt.Errorf("%w: bad startxref", errSyntax)
	}
	f := &file{src: src, offsets: map[int]int{}, xref: start}
	seen := map[int]bool{}
	for at := start; ; {
		if seen[at] {
			return nil, fmt.Errorf("%w: cross-reference sections loop at %d", errSyntax, at)
		}
		seen[at] = true
		trailer, err := f.section(at)
		if err != nil {
			return nil, err
		}
		if f.trailer == nil {
			f.trailer = trailer
		}
		prev, ok := trailer.get("Prev").(raw)
		if !ok {
			return f, nil
		}
		if at, err = strconv.Atoi(string(prev)); err != nil || at < 0 || at >= len(src) {
			return nil, fmt.Errorf("%w: bad /Prev %q", errSyntax, prev)
		}
	}
}

// section reads the cross-reference table at offset at and the trailer after it.
func (f *file) section(at int) (*dict, error) {
	l := &lexer{src: f.src, pos: at}
	if !l.keyword("xref") {
		return nil, fmt.Errorf("%w: no cross-reference table at byte %d (a cross-reference stream?)", ErrUnsupported, at)
	}
	for {
		if l.keyword("trailer") {
			o, err := l.object(0)
			if err != nil {
				return nil, fmt.Errorf("trailer: %w", err)
			}
			d, ok := o.(*dict)
			if !ok {
				return nil, l.errorf("trailer is not a dictionary")
			}
			return d, nil
		}
		first, ok1 := l.integer()
		count, ok2 := l.integer()
		if !ok1 || !ok2 {
			return nil, l.errorf("cross-reference subsection header expected")
		}
		for n := first; n < first+count; n++ {
			off, ok1 := l.integer()
			_, ok2 := l.integer()
			l.skip()
			if !ok1 || !ok2 || l.pos >= len(f.src) {
				return nil, l.errorf("cross-reference entry expected")
			}
			kind := f.src[l.pos]
			l.pos++
			if _, known := f.offsets[n]; !known && kind == 'n' {
				f.offsets[n] = off
			} else if !known && kind == 'f' {
				f.offsets[n] = -1 // free in the newer section: older entries do not revive it
			}
		}
	}
}

// object reads the indirect object r.
func (f *file) object(r ref) (object, error) {
	off, ok := f.offsets[r.num]
	if !ok || off < 0 || off >= len(f.src) {
		return nil, fmt.Errorf("%w: object %d is not in the cross-reference table", ErrUnsupported, r.num)
	}
	l := &lexer{src: f.src, pos: off}
	num, ok1 := l.integer()
	gen, ok2 := l.integer()
	if !ok1 || !ok2 || !l.keyword("obj") || num != r.num || gen != r.gen {
		return nil, fmt.Errorf("%w: object %d %d is not at byte %d", ErrUnsupported, r.num, r.gen, off)
	}
	o, err := l.object(0)
	if err != nil {
		return nil, fmt.Errorf("object %d: %w", r.num, err)
	}
	return o, nil
}

// dictAt reads the dictionary that o is or refers to.
func (f *file) dictAt(o object, what string) (*dict, error) {
	if r, ok := o.(ref); ok {
		var err error
		if o, err = f.object(r); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	d, ok := o.(*dict)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not a dictionary", ErrUnsupported, what)
	}
	return d, nil
}

// size is the trailer's /Size: one more than the highest object number.
func (f *file) size() (int, error) {
	s, ok := f.trailer.get("Size").(raw)
	if !ok {
		return 0, fmt.Errorf("%w: trailer has no /Size", errSyntax)
	}
	n, err := strconv.Atoi(string(s))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%w: bad /Size %q", errSyntax, s)
	}
	return n, nil
}

// firstPage finds the first leaf of the page tree under the catalog's /Pages.
func (f *file) firstPage(catalog *dict) (ref, *dict, error) {
	node := catalog.get("Pages")
	for depth := 0; depth < maxDepth; depth++ {
		r, ok := node.(ref)
		if !ok {
			return ref{}, nil, fmt.Errorf("%w: page tree node is not an indirect object", ErrUnsupported)
		}
		d, err := f.dictAt(r, "page tree")
		if err != nil {
			return ref{}, nil, err
		}
		if t, _ := d.get("Type").(name); t == "Page" {
			return r, d, nil
		}
		kids, err := f.arrayAt(d.get("Kids"), "page tree /Kids")
		if err != nil {
			return ref{}, nil, err
		}
		if len(kids) == 0 {
			return ref{}, nil, fmt.Errorf("%w: the document has no pages", ErrUnsupported)
		}
		node = kids[0]
	}
	return ref{}, nil, fmt.Errorf("%w: page tree too deep", ErrUnsupported)
}

// arrayAt reads the array that o is or refers to.
func (f *file) arrayAt(o object, what string) (array, error) {
	if r, ok := o.(ref); ok {
		var err error
		if o, err = f.object(r); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	a, ok := o.(array)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not an array", ErrUnsupported, what)
	}
	return a, nil
}
