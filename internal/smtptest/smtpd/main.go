// Command smtpd is a real SMTP server for tests (emersion/go-smtp's server
// side, code no one here wrote): it accepts every message and writes each
// to its own file in -dir, the envelope first (X-Envelope-From and
// X-Envelope-To lines) and then the data exactly as received. It prints
// "listening on ADDR" once it accepts connections.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "smtpd:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	dir := flag.String("dir", "", "folder that receives one file per message")
	user := flag.String("user", "", "require AUTH PLAIN with this user name")
	password := flag.String("password", "", "the password -user must give")
	flag.Parse()
	if *dir == "" {
		return errors.New("-dir is required")
	}
	be := &backend{dir: *dir, user: *user, password: *password}
	s := smtp.NewServer(be)
	s.Domain = "smtptest.local"
	s.AllowInsecureAuth = true // loopback only, in tests
	s.ReadTimeout, s.WriteTimeout = 30*time.Second, 30*time.Second
	s.MaxMessageBytes = 10 << 20
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	return s.Serve(ln)
}

type backend struct {
	dir, user, password string
	n                   atomic.Int64
}

func (b *backend) NewSession(*smtp.Conn) (smtp.Session, error) { return &session{b: b}, nil }

type session struct {
	b       *backend
	from    string
	to      []string
	authed  bool
	started time.Time
}

func (s *session) AuthMechanisms() []string {
	if s.b.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != s.b.user || password != s.b.password {
			return errors.New("invalid username or password")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.b.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "X-Envelope-From: %s\r\n", s.from)
	for _, t := range s.to {
		fmt.Fprintf(&buf, "X-Envelope-To: %s\r\n", t)
	}
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	name := fmt.Sprintf("%020d-%06d.eml", time.Now().UnixNano(), s.b.n.Add(1))
	tmp := filepath.Join(s.b.dir, "."+name)
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(s.b.dir, name))
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }
