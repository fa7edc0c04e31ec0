// Package pdftest writes small PDFs for tests, object by object, with a
// correct classic cross-reference table, so that a test states only the
// objects it is about.
package pdftest

import (
	"bytes"
	"fmt"
)

// PDF writes objs as objects 1 to len(objs), object 1 being the catalog,
// with a binary comment after the header (as PDF writers do, so that
// transfer tools treat the file as binary) and the cross-reference table
// and trailer after them. trailer holds further trailer entries, such as
// " /ID [<01> <01>]", or is empty.
func PDF(objs []string, trailer string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R%s >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, trailer, xref)
	return b.Bytes()
}
