// Package smtptest runs a real SMTP server process for tests (the smtpd
// command beside it, built from emersion/go-smtp) and reads back what
// arrived. The server can be stopped and started again on the same port
// to play an outage.
package smtptest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is a running (or stopped) SMTP server.
type Server struct {
	// Addr is host:port, the same across Stop and Start.
	Addr string
	// User and Password, when set, are required with AUTH PLAIN.
	User, Password string

	tb  testing.TB
	dir string
	mu  sync.Mutex
	cmd *exec.Cmd
}

// Message is one message as it arrived.
type Message struct {
	// EnvelopeFrom and EnvelopeTo are MAIL FROM and RCPT TO.
	EnvelopeFrom string
	EnvelopeTo   []string
	Header       mail.Header
	// Subject is the decoded subject (RFC 2047).
	Subject string
	// Body is the decoded text body.
	Body string
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the smtpd command once per test process.
func binary() (string, error) {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "smtptest-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "smtpd")
		out, err := exec.Command("go", "build", "-o", binPath, "siteinspect/internal/smtptest/smtpd").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build smtpd: %v\n%s", err, out)
		}
	})
	return binPath, buildErr
}

// RemoveBinary deletes the smtpd command that Start built, if it did; a
// test process calls it as it ends (TestMain), so that runs leave nothing
// in the temp folder.
func RemoveBinary() {
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
}

// Start builds and starts a server on a free loopback port; it stops when
// tb ends. user and password, when not empty, are required (AUTH PLAIN).
func Start(tb testing.TB, user, password string) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{Addr: addr, User: user, Password: password, tb: tb, dir: tb.TempDir()}
	if err := s.Start(); err != nil {
		tb.Fatalf("smtptest: %v", err)
	}
	tb.Cleanup(s.Stop)
	return s
}

// Start starts the stopped server again on its address.
func (s *Server) Start() error {
	bin, err := binary()
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		cmd := exec.Command(bin, "-addr", s.Addr, "-dir", s.dir, "-user", s.User, "-password", s.Password)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		line, _ := bufio.NewReader(out).ReadString('\n')
		if strings.HasPrefix(line, "listening on ") {
			go io.Copy(io.Discard, out)
			s.cmd = cmd
			return nil
		}
		cmd.Wait()
		// The port may still be held by the previous process for a moment.
		if time.Now().After(deadline) {
			return fmt.Errorf("smtpd did not start on %s", s.Addr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop kills the server: connections are refused until Start.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
}

// Messages returns what arrived, in order of arrival.
func (s *Server) Messages() []Message {
	s.tb.Helper()
	names, err := filepath.Glob(filepath.Join(s.dir, "*.eml"))
	if err != nil {
		s.tb.Fatal(err)
	}
	sort.Strings(names)
	var out []Message
	for _, name := range names {
		raw, err := os.ReadFile(name)
		if err != nil {
			s.tb.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			s.tb.Fatalf("smtptest: %s: %v", name, err)
		}
		msg := Message{EnvelopeFrom: m.Header.Get("X-Envelope-From"), EnvelopeTo: m.Header["X-Envelope-To"], Header: m.Header}
		if msg.Subject, err = new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject")); err != nil {
			s.tb.Fatalf("smtptest: subject of %s: %v", name, err)
		}
		var body io.Reader = m.Body
		if strings.EqualFold(m.Header.Get("Content-Transfer-Encoding"), "base64") {
			body = base64.NewDecoder(base64.StdEncoding, m.Body)
		}
		b, err := io.ReadAll(body)
		if err != nil {
			s.tb.Fatalf("smtptest: body of %s: %v", name, err)
		}
		msg.Body = strings.ReplaceAll(string(b), "\r\n", "\n")
		out = append(out, msg)
	}
	return out
}

// WaitMessages waits up to timeout for at least n messages and returns all.
func (s *Server) WaitMessages(n int, timeout time.Duration) []Message {
	s.tb.Helper()
	deadline := time.Now().Add(timeout)
	for {
		m := s.Messages()
		if len(m) >= n || time.Now().After(deadline) {
			return m
		}
		time.Sleep(50 * time.Millisecond)
	}
}
