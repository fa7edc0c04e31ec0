package signaling

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os/exec"
	"time"

	"github.com/pion/webrtc/v4"
)

// snapshotTimeout bounds the ffmpeg run that decodes a snapshot.
const snapshotTimeout = 20 * time.Second

// keyframeRetry is how often Snapshot asks again for a keyframe while it
// waits, in case a request (an unreliable RTCP packet) was lost.
const keyframeRetry = time.Second

// Snapshot returns the publisher's next video keyframe as a JPEG, and
// its position in the final recording (the clock of Status's
// RecordingTime). It asks the publisher for a keyframe and waits for it
// until ctx ends; concurrent calls share the keyframe. It returns
// ErrNoSession, ErrNoPublisher when the session has no current publisher
// or it sends no video, or ctx's error.
func (m *Manager) Snapshot(ctx context.Context, sessionID string) (jpeg []byte, at time.Duration, err error) {
	s, err := m.session(sessionID, false)
	if err != nil {
		return nil, 0, err
	}
	kf, at, err := s.nextKeyframe(ctx)
	if err != nil {
		return nil, 0, err
	}
	jpeg, err = decodeJPEG(ctx, kf)
	if err != nil {
		return nil, 0, err
	}
	return jpeg, at, nil
}

// nextKeyframe waits for the current publisher's next keyframe; when
// that publisher goes away first, it waits for its successor's.
func (s *session) nextKeyframe(ctx context.Context) (keyframe, time.Duration, error) {
	retry := time.NewTicker(keyframeRetry)
	defer retry.Stop()
	for {
		s.mu.Lock()
		p := s.pub
		s.mu.Unlock()
		if p == nil || p.info.video == nil {
			return keyframe{}, 0, ErrNoPublisher
		}
		ch, err := p.rec.waitKeyframe()
		if err != nil {
			return keyframe{}, 0, err
		}
		p.requestKeyframe()
	wait:
		for {
			select {
			case kf, ok := <-ch:
				if !ok {
					break wait // the publisher left
				}
				s.mu.Lock()
				_, before := s.recordingTimeLocked(time.Now(), kf.segStart)
				s.mu.Unlock()
				return kf, before + kf.offset, nil
			case <-retry.C:
				p.requestKeyframe()
			case <-ctx.Done():
				p.rec.cancelWait(ch)
				return keyframe{}, 0, ctx.Err()
			}
		}
	}
}

// decodeJPEG decodes one keyframe with ffmpeg, piped through its stdin
// and stdout. ffmpeg is killed when ctx ends or after snapshotTimeout.
func decodeJPEG(ctx context.Context, kf keyframe) ([]byte, error) {
	in, format := kf.data, "h264"
	if kf.codec == webrtc.MimeTypeVP8 {
		in, format = ivfFrame(kf.data), "ivf"
	}
	ctx, cancel := context.WithTimeout(ctx, snapshotTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-f", format, "-i", "pipe:0",
		"-frames:v", "1", "-q:v", "3", "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1")
	var out, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(in), &out, &stderr
	cmd.WaitDelay = time.Second // ffmpeg killed: do not wait on its pipes
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("signaling: snapshot: %w", context.Cause(ctx))
		}
		return nil, fmt.Errorf("signaling: snapshot: ffmpeg: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	if !bytes.HasPrefix(out.Bytes(), []byte{0xff, 0xd8}) {
		return nil, fmt.Errorf("signaling: snapshot: ffmpeg wrote no JPEG: %s", bytes.TrimSpace(stderr.Bytes()))
	}
	return out.Bytes(), nil
}

// ivfFrame wraps one VP8 frame in an IVF file: the 32-byte file header,
// then a 12-byte frame header (size, timestamp) and the frame.
func ivfFrame(frame []byte) []byte {
	w, h, _ := vp8Size(frame)
	b := make([]byte, 0, 44+len(frame))
	b = append(b, "DKIF"...)
	b = binary.LittleEndian.AppendUint16(b, 0)  // version
	b = binary.LittleEndian.AppendUint16(b, 32) // header size
	b = append(b, "VP80"...)
	b = binary.LittleEndian.AppendUint16(b, uint16(w))
	b = binary.LittleEndian.AppendUint16(b, uint16(h))
	b = binary.LittleEndian.AppendUint32(b, 30) // timebase denominator
	b = binary.LittleEndian.AppendUint32(b, 1)  // timebase numerator
	b = binary.LittleEndian.AppendUint32(b, 1)  // frames
	b = binary.LittleEndian.AppendUint32(b, 0)  // unused
	b = binary.LittleEndian.AppendUint32(b, uint32(len(frame)))
	b = binary.LittleEndian.AppendUint64(b, 0) // timestamp
	return append(b, frame...)
}
