// Package pades signs PDF documents with a PAdES signature (ETSI EN 319 142-1,
// SubFilter ETSI.CAdES.detached): it appends an incremental update (ISO
// 32000-1 §7.5.6) holding an invisible signature field, its signature
// dictionary with /ByteRange and /Contents, the catalog's /AcroForm and the
// first page's /Annots, then fills /Contents with a detached CMS SignedData
// (RFC 5652) over every byte of the file but /Contents itself.
//
// The original bytes are kept as they were, so whatever signed or hashed
// them before still matches. The CMS carries content-type, message-digest,
// signing-time and the ESS signing-certificate-v2 attribute (RFC 5035) that
// binds the signer's certificate; with a time-stamping authority, an RFC
// 3161 token over the signature value is added as the unsigned
// signature-time-stamp attribute (RFC 3161 Appendix A), which makes it
// PAdES-B-T. The CMS is built by github.com/smallstep/pkcs7; the PDF part
// needs no library, since only classic cross-reference tables (which the
// report writer produces) are supported.
package pades

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"
)

// Signer signs PDFs with one key and certificate. The zero value is not
// usable: Key and Chain are required. A Signer is safe for concurrent use
// when its Timestamp is.
type Signer struct {
	// Key is the signer's private key (RSA or ECDSA, or any crypto.Signer
	// such as a key held in a hardware module).
	Key crypto.Signer
	// Chain is the signer's certificate first, then the certificates that
	// issued it, in order; all of them are embedded so a validator can
	// build the path to a root it trusts.
	Chain []*x509.Certificate
	// Timestamp, when set, obtains an RFC 3161 TimeStampToken (DER) for
	// digest, the SHA-256 of the signature value. An error fails Sign; a nil
	// token with no error signs without a time-stamp (PAdES-B-B), for a
	// caller that would rather issue the document than wait for the TSA.
	Timestamp func(ctx context.Context, digest []byte) ([]byte, error)
	// Name, Reason and Location are shown by PDF readers beside the
	// signature; each may be empty.
	Name, Reason, Location string
	// Now gives the claimed signing time written as /M; time.Now when nil.
	Now func() time.Time
}

// contentsReserve is room for the CMS beyond the certificates it embeds:
// the signer info, attributes and signature (a 4096-bit RSA signature is
// 512 bytes), and a time-stamp token with its TSA's certificates when a
// TSA is configured.
const (
	contentsReserve   = 4096
	timestampReserve  = 12288
	byteRangeTemplate = "[0 0000000000 0000000000 0000000000]"
)

// Sign returns pdf with a signature appended as an incremental update.
// A PDF with cross-reference streams, or otherwise beyond what the update
// needs to read, gives an error wrapping ErrUnsupported.
func (s *Signer) Sign(ctx context.Context, pdf []byte) ([]byte, error) {
	if s.Key == nil || len(s.Chain) == 0 {
		return nil, errors.New("sign PDF: no key or certificate")
	}
	reserve := contentsReserve
	for _, c := range s.Chain {
		reserve += len(c.Raw)
	}
	if s.Timestamp != nil {
		reserve += timestampReserve
	}
	for attempt := 0; ; attempt++ {
		out, err := s.sign(ctx, pdf, reserve)
		var short *errTooLong
		if errors.As(err, &short) && attempt == 0 {
			reserve = short.need + 1024 // once more, with room to spare
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sign PDF: %w", err)
		}
		return out, nil
	}
}

// errTooLong says the CMS did not fit the room left for /Contents.
type errTooLong struct{ need, have int }

func (e *errTooLong) Error() string {
	return fmt.Sprintf("signature of %d bytes does not fit the %d reserved", e.need, e.have)
}

// sign writes the update with reserve bytes for the CMS and fills it in.
func (s *Signer) sign(ctx context.Context, pdf []byte, reserve int) ([]byte, error) {
	f, err := parse(pdf)
	if err != nil {
		return nil, err
	}
	size, err := f.size()
	if err != nil {
		return nil, err
	}
	rootRef, ok := f.trailer.get("Root").(ref)
	if !ok {
		return nil, fmt.Errorf("%w: trailer has no /Root reference", ErrUnsupported)
	}
	catalog, err := f.dictAt(rootRef, "catalog")
	if err != nil {
		return nil, err
	}
	pageRef, page, err := f.firstPage(catalog)
	if err != nil {
		return nil, err
	}

	u := &update{}
	sigRef, fieldRef := ref{size, 0}, ref{size + 1, 0}
	// The field and its widget annotation are one dictionary (§12.5.6.19,
	// §12.7.4.5): invisible (an empty /Rect), printed and locked (/F 132).
	field := &dict{}
	field.set("Type", name("Annot"))
	field.set("Subtype", name("Widget"))
	field.set("FT", name("Sig"))
	field.set("T", textString(fmt.Sprintf("Signature%d", fieldRef.num)))
	field.set("V", sigRef)
	field.set("F", raw("132"))
	field.set("Rect", array{raw("0"), raw("0"), raw("0"), raw("0")})
	field.set("P", pageRef)
	if err := f.appendRef(u, page, "Annots", fieldRef); err != nil {
		return nil, err
	}
	u.add(pageRef, page)
	if err := f.addToForm(u, catalog, fieldRef); err != nil {
		return nil, err
	}
	u.add(rootRef, catalog)
	u.add(fieldRef, field)

	var b bytes.Buffer
	b.Grow(len(pdf) + reserve*2 + 4096)
	b.Write(pdf)
	if len(pdf) > 0 && pdf[len(pdf)-1] != '\n' && pdf[len(pdf)-1] != '\r' {
		b.WriteByte('\n')
	}
	offsets := map[int]int{}
	// The signature dictionary is written by hand, so we know where its
	// /ByteRange and /Contents placeholders are.
	offsets[sigRef.num] = b.Len()
	fmt.Fprintf(&b, "%d 0 obj\n<< /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached /M ", sigRef.num)
	write(&b, pdfDate(s.now()))
	for _, e := range []struct {
		key name
		val string
	}{{"Name", s.Name}, {"Reason", s.Reason}, {"Location", s.Location}} {
		if e.val != "" {
			fmt.Fprintf(&b, " /%s ", e.key)
			write(&b, textString(e.val))
		}
	}
	b.WriteString(" /ByteRange ")
	rangeAt := b.Len()
	b.WriteString(byteRangeTemplate)
	b.WriteString(" /Contents <")
	contentsAt := b.Len() - 1
	b.Write(bytes.Repeat([]byte{'0'}, 2*reserve))
	b.WriteString("> >>\nendobj\n")
	contentsEnd := contentsAt + 2*reserve + 2
	for _, o := range u.objs {
		offsets[o.r.num] = b.Len()
		fmt.Fprintf(&b, "%d %d obj\n", o.r.num, o.r.gen)
		write(&b, o.o)
		b.WriteString("\nendobj\n")
	}
	gens := map[int]int{}
	for _, o := range u.objs {
		gens[o.r.num] = o.r.gen
	}
	xrefAt := b.Len()
	writeXref(&b, offsets, gens)
	trailer := &dict{}
	trailer.set("Size", raw(strconv.Itoa(size+2)))
	trailer.set("Root", rootRef)
	for _, k := range []name{"Info", "ID"} {
		if v := f.trailer.get(k); v != nil {
			trailer.set(k, v)
		}
	}
	trailer.set("Prev", raw(strconv.Itoa(f.xref)))
	b.WriteString("trailer\n")
	write(&b, trailer)
	fmt.Fprintf(&b, "\nstartxref\n%d\n%%%%EOF\n", xrefAt)

	out := b.Bytes()
	br := fmt.Sprintf("[0 %d %d %d]", contentsAt, contentsEnd, len(out)-contentsEnd)
	copy(out[rangeAt:], br+string(bytes.Repeat([]byte{' '}, len(byteRangeTemplate)-len(br))))
	signed := make([]byte, 0, len(out)-(contentsEnd-contentsAt))
	signed = append(append(signed, out[:contentsAt]...), out[contentsEnd:]...)
	sig, err := s.cms(ctx, signed)
	if err != nil {
		return nil, err
	}
	if len(sig) > reserve {
		return nil, &errTooLong{need: len(sig), have: reserve}
	}
	hex.Encode(out[contentsAt+1:], sig)
	return out, nil
}

func (s *Signer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// update is the objects an incremental update writes, new or replaced.
type update struct {
	objs []struct {
		r ref
		o object
	}
}

func (u *update) add(r ref, o object) {
	u.objs = append(u.objs, struct {
		r ref
		o object
	}{r, o})
}

// appendRef adds item to the array d[key], which may be missing, inline or
// an indirect object (then rewritten in the update).
func (f *file) appendRef(u *update, d *dict, key name, item ref) error {
	switch v := d.get(key).(type) {
	case nil:
		d.set(key, array{item})
	case array:
		d.set(key, append(v, item))
	case ref:
		a, err := f.arrayAt(v, string(key))
		if err != nil {
			return err
		}
		u.add(v, append(a, item))
	default:
		return fmt.Errorf("%w: /%s is not an array", ErrUnsupported, key)
	}
	return nil
}

// addToForm lists field in the catalog's interactive form, creating the form
// if there is none, and marks the document as signed and append-only
// (/SigFlags 3, §12.7.2).
func (f *file) addToForm(u *update, catalog *dict, field ref) error {
	var form *dict
	switch v := catalog.get("AcroForm").(type) {
	case nil:
		form = &dict{}
		catalog.set("AcroForm", form)
	case *dict:
		form = v
	case ref:
		var err error
		if form, err = f.dictAt(v, "AcroForm"); err != nil {
			return err
		}
		u.add(v, form)
	default:
		return fmt.Errorf("%w: /AcroForm is not a dictionary", ErrUnsupported)
	}
	if err := f.appendRef(u, form, "Fields", field); err != nil {
		return err
	}
	form.set("SigFlags", raw("3"))
	return nil
}

// writeXref writes one cross-reference section for the objects at offsets,
// in runs of consecutive numbers (§7.5.4); entries are exactly 20 bytes.
func writeXref(b *bytes.Buffer, offsets, gens map[int]int) {
	nums := make([]int, 0, len(offsets))
	for n := range offsets {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	b.WriteString("xref\n")
	for i := 0; i < len(nums); {
		j := i + 1
		for j < len(nums) && nums[j] == nums[j-1]+1 {
			j++
		}
		fmt.Fprintf(b, "%d %d\n", nums[i], j-i)
		for _, n := range nums[i:j] {
			fmt.Fprintf(b, "%010d %05d n\r\n", offsets[n], gens[n])
		}
		i = j
	}
}

// textString is s as a PDF text string: UTF-16BE with a byte-order mark,
// in hex (§7.9.2.2), so any script prints.
func textString(s string) raw {
	units := utf16.Encode([]rune(s))
	out := make([]byte, 0, 6+4*len(units))
	out = append(out, "<FEFF"...)
	for _, u := range units {
		out = fmt.Appendf(out, "%04X", u)
	}
	return raw(append(out, '>'))
}

// pdfDate is t as a PDF date string, D:YYYYMMDDHHmmSS+HH'mm' (§7.9.4).
func pdfDate(t time.Time) raw {
	_, off := t.Zone()
	sign := byte('+')
	if off < 0 {
		sign, off = '-', -off
	}
	return raw(fmt.Sprintf("(D:%s%c%02d'%02d')", t.Format("20060102150405"), sign, off/3600, off%3600/60))
}
