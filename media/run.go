// Package media turns uploaded files into facts and reviewable renditions by running
// ffprobe/ffmpeg, exiftool/heif-convert and poppler-utils as subprocesses, each under a
// timeout, a memory limit and a CPU-time limit, killed with its whole process group when
// the caller gives up. It knows nothing of cases, storage or HTTP: a file path goes in,
// an Info or files on disk come out.
package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Defaults used when a Runner field is zero.
const (
	// DefaultTimeout bounds one external command: a 300-page scan batch or a
	// long 4K transcode on two cores fits well inside it.
	DefaultTimeout = 10 * time.Minute
	// DefaultMemoryBytes is the address-space limit of one external command.
	DefaultMemoryBytes = 2 << 30
	// DefaultPDFRenderBytes bounds one PDF's rendered pages: 2 GiB, some
	// 300 pages of full-colour photographs at 2000 px, or thousands of
	// pages of text. Up to 2000 pages of noise would make about 24 GB.
	DefaultPDFRenderBytes = 2 << 30
	// pdfBudgetTimeouts is how many command timeouts RenderPDF may take
	// for a whole document: each batch of ten pages has one of its own.
	pdfBudgetTimeouts = 3
)

// maxStdout bounds what one command may print to stdout before it is cut off (ffprobe
// JSON, exiftool JSON, pdfinfo, pdftotext of a 300-page document all fit easily).
const maxStdout = 64 << 20

// stderrTail is how much of a command's stderr is kept for error messages.
const stderrTail = 4 << 10

// Unprocessable is an input we can never process (retrying will not help); Reason is
// shown to users.
type Unprocessable struct{ Reason string }

// Error returns the reason.
func (e *Unprocessable) Error() string { return "unprocessable: " + e.Reason }

// unprocessable is shorthand for a formatted *Unprocessable.
func unprocessable(format string, args ...any) error {
	return &Unprocessable{Reason: fmt.Sprintf(format, args...)}
}

// Runner runs external tools under limits. The zero value is ready to use.
type Runner struct {
	// Timeout bounds the wall-clock time of each external command (not of a whole
	// method: RenderPDF runs several commands). Zero means DefaultTimeout. A command
	// over its time is killed with its process group; for a PDF that makes it
	// *Unprocessable, for video it is a plain error, as a longer timeout might help.
	Timeout time.Duration
	// MemoryBytes is the address-space limit (RLIMIT_AS) of each command. Zero means
	// DefaultMemoryBytes. It is what stops a decompression bomb; it counts reserved
	// virtual memory, so keep it well above what the tools actually use.
	MemoryBytes int64
	// PDFRenderBytes bounds the page pictures (review PNGs and thumbnails)
	// RenderPDF writes for one document; past it the PDF is *Unprocessable
	// (pdf_too_large). Zero means DefaultPDFRenderBytes.
	PDFRenderBytes int64
	// VideoWork bounds the pixels decoded for one video (width × height ×
	// frame rate × seconds); past it the video is *Unprocessable
	// (video_too_long). Zero means DefaultVideoWork.
	VideoWork float64
	// Zone is the time zone assumed for capture times that carry no offset (EXIF
	// DateTimeOriginal without OffsetTimeOriginal); nil means UTC. The office's zone
	// is the best guess for photos taken on site.
	Zone *time.Location
	// Trace, if set, is told of every command before it runs, without the
	// limits wrapped around it: benchmarks replay them to compare our
	// pipeline with the same commands run by hand.
	Trace func(name string, args []string)
}

// orDefault is v where it is set (positive), else def: a Runner's zero
// fields mean the defaults.
func orDefault[T int64 | float64 | time.Duration](v, def T) T {
	if v > 0 {
		return v
	}
	return def
}

func (r Runner) timeout() time.Duration { return orDefault(r.Timeout, DefaultTimeout) }
func (r Runner) memory() int64          { return orDefault(r.MemoryBytes, DefaultMemoryBytes) }
func (r Runner) pdfRenderBytes() int64  { return orDefault(r.PDFRenderBytes, DefaultPDFRenderBytes) }
func (r Runner) videoWork() float64     { return orDefault(r.VideoWork, DefaultVideoWork) }

func (r Runner) zone() *time.Location {
	if r.Zone != nil {
		return r.Zone
	}
	return time.UTC
}

// errTimeout marks a command killed because it ran past Runner.Timeout, as opposed to
// the caller's context being cancelled.
var errTimeout = errors.New("timed out")

// errStalled is the cause given to a watched command's context when its
// progress stops.
var errStalled = errors.New("no progress")

// progressLines reads what ffmpeg's -progress prints (key=value lines,
// out_time_us among them) and calls advanced whenever the output time
// grows. The lines are not kept.
type progressLines struct {
	partial  []byte
	last     int64
	advanced func()
}

func (p *progressLines) Write(b []byte) (int, error) {
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(p.partial) < 256 { // a line is short; a longer one is not progress
				p.partial = append(p.partial, b...)
			}
			break
		}
		line := append(p.partial, b[:i]...)
		p.partial, b = p.partial[:0], b[i+1:]
		if v, ok := bytes.CutPrefix(bytes.TrimSpace(line), []byte("out_time_us=")); ok {
			if us, err := strconv.ParseInt(string(v), 10, 64); err == nil && us > p.last {
				p.last = us
				if p.advanced != nil {
					p.advanced()
				}
			}
		}
	}
	return n, nil
}

// cmdError is a command that ran but failed: a non-zero exit, a signal (often a
// resource limit) or a timeout. Stderr holds the end of what it printed.
type cmdError struct {
	Name     string
	Err      error // *exec.ExitError, errTimeout, or a start error
	Stderr   string
	Signaled bool // killed by a signal other than ours: SIGKILL/SIGSEGV/SIGXCPU/SIGABRT…
}

func (e *cmdError) Error() string {
	msg := fmt.Sprintf("%s: %v", e.Name, e.Err)
	if s := lastLines(e.Stderr, 3); s != "" {
		msg += ": " + s
	}
	return msg
}

func (e *cmdError) Unwrap() error { return e.Err }

// limits is how long one command may take: wall-clock time in all, and,
// for an ffmpeg that prints its progress (-progress pipe:1) to be
// watched, how long it may go without its output time advancing (0: not
// watched).
type limits struct {
	wall, idle time.Duration
}

// passPace is how many times a video's length a pass over the whole of it
// (its proxy, its filmstrip) may take beyond Timeout. A 1080p HLG clip,
// an iPhone's default recording, becomes a proxy at about 1.1 times its
// length on two idle cores, 4K HLG at 1.4 times (TestProxyOfLongVideo's
// comment has the figures); under a fixed Timeout a 30-minute walk
// through a site was killed at 30 minutes in each of its three attempts
// and never became watchable.
const passPace = 8

// limits is the command limit of everything but a pass over a whole video.
func (r Runner) limits() limits { return limits{wall: r.timeout()} }

// passLimits bounds a pass over a whole video of durationMS: Timeout plus
// passPace times its length in all; watched, it is also stopped once its
// output has not moved on for Timeout, so a stuck tool is found as soon as
// on a short clip.
func (r Runner) passLimits(durationMS int64, watched bool) limits {
	l := limits{wall: r.timeout() + time.Duration(max(durationMS, 0))*time.Millisecond*passPace}
	if watched {
		l.idle = r.timeout()
	}
	return l
}

// run runs name with args under the Runner's limits and returns its stdout. The
// command gets its own process group; when ctx is done or the timeout passes, the whole
// group is killed (SIGKILL to -pgid), so children it forked die with it. Cancellation
// by ctx returns ctx.Err() wrapped; a timeout returns a *cmdError wrapping errTimeout.
func (r Runner) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	return r.runWithin(ctx, r.limits(), name, args...)
}

// runWithin is run under lim.
func (r Runner) runWithin(ctx context.Context, lim limits, name string, args ...string) ([]byte, error) {
	stdout := &limitedBuffer{max: maxStdout}
	var out io.Writer = stdout
	if lim.idle > 0 {
		out = &progressLines{}
	}
	if err := r.stream(ctx, out, lim, name, args...); err != nil {
		return nil, err
	}
	if stdout.over {
		return nil, &cmdError{Name: name, Err: fmt.Errorf("printed more than %d bytes", maxStdout)}
	}
	return stdout.Bytes(), nil
}

// stream is run with stdout going to w as the command writes it. If w fails, the
// command is not stopped by that alone: the caller cancels ctx. With
// lim.idle set, stdout must be a *progressLines: the command is stopped
// when the output time it reports has not advanced for lim.idle.
func (r Runner) stream(ctx context.Context, stdout io.Writer, lim limits, name string, args ...string) error {
	if r.Trace != nil {
		r.Trace(name, args)
	}
	tctx, cancel := context.WithTimeout(ctx, lim.wall)
	defer cancel()
	cmdCtx := tctx
	if lim.idle > 0 {
		var stall context.CancelCauseFunc
		cmdCtx, stall = context.WithCancelCause(tctx)
		idle := time.AfterFunc(lim.idle, func() { stall(errStalled) })
		defer idle.Stop()
		stdout.(*progressLines).advanced = func() { idle.Reset(lim.idle) }
	}

	cpu := int64(math.Ceil(lim.wall.Seconds()))*int64(runtime.NumCPU()) + 1
	full := append([]string{
		"--as=" + strconv.FormatInt(r.memory(), 10),
		"--cpu=" + strconv.FormatInt(cpu, 10),
		"--core=0",
		// nice: media work yields the CPU to the API on a small machine.
		"--", "nice", "-n", "10", name,
	}, args...)
	cmd := exec.CommandContext(cmdCtx, "prlimit", full...)
	// Pdeathsig: if this process is killed outright (SIGKILL, OOM), the tool
	// dies with it instead of running on as an orphan. prlimit and nice exec
	// the tool in place, so the signal reaches it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	// If something outside the group still holds our pipes, stop waiting anyway.
	cmd.WaitDelay = 5 * time.Second
	cmd.Env = append(cmd.Environ(), "LC_ALL=C.UTF-8", "MALLOC_ARENA_MAX=4")
	var stderr tailBuffer
	cmd.Stdout = stdout
	cmd.Stderr = &stderr

	err := cmd.Start()
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w", name, ctx.Err())
		}
		return &cmdError{Name: name, Err: err}
	}
	err = cmd.Wait()
	// Reap stragglers a well-behaved exit left behind (a backgrounded child).
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: %w", name, ctx.Err())
	}
	if tctx.Err() != nil {
		return &cmdError{Name: name, Err: fmt.Errorf("%w after %v", errTimeout, lim.wall), Stderr: stderr.String()}
	}
	if errors.Is(context.Cause(cmdCtx), errStalled) {
		return &cmdError{Name: name, Err: fmt.Errorf("%w: no progress for %v", errTimeout, lim.idle), Stderr: stderr.String()}
	}
	ce := &cmdError{Name: name, Err: err, Stderr: stderr.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() == 127 { // nice or ld.so could not start it: our setup, not the input
			return fmt.Errorf("%s could not start (not installed, or MemoryBytes too low): %s", name, lastLines(ce.Stderr, 1))
		}
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			ce.Signaled = true
		}
	}
	return ce
}

// limitedBuffer keeps the first max bytes written and remembers whether more came.
// It never fails a write, so the command is not killed by EPIPE halfway.
type limitedBuffer struct {
	bytes.Buffer
	max  int
	over bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); len(p) > room {
		b.over = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// tailBuffer keeps the last stderrTail bytes written.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 2*stderrTail {
		t.b = append(t.b[:0], t.b[len(t.b)-stderrTail:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	if len(t.b) > stderrTail {
		return string(t.b[len(t.b)-stderrTail:])
	}
	return string(t.b)
}

// lastLines returns the last n non-empty lines of s joined by "; ".
func lastLines(s string, n int) string {
	var out []string
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			out = append([]string{l}, out...)
		}
	}
	return strings.Join(out, "; ")
}

// arg makes a path safe to pass where a leading "-" would read as an option.
func arg(path string) string {
	if strings.HasPrefix(path, "-") {
		return "./" + path
	}
	return path
}
