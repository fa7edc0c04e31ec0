package signaling

import (
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// nackResponder answers a viewer's NACKs (RFC 4585 §6.2.1): it keeps the
// last sentKept packets of each stream that negotiated "nack" and sends
// again those a NACK names. It takes the place of pion's responder on
// viewers' connections, which copies every packet into a pooled buffer of
// its own: at 200 viewers that is ~300 MB of copies, the server peaked
// at 0.6–0.7 GB against 0.2 GB with this one, and 13 % of its CPU went
// to the kernel zeroing fresh pages for them (docs/BENCHMARKS.md). This one keeps each packet's header by value and
// its payload by reference, in a ring made once per stream, so a packet
// sent costs no allocation. The payload is shared by every viewer and
// never written after the publisher's reader made it (forwarder.write).
//
// A packet is sent again at most once per nackResendGap, whatever the
// NACKs repeat, and a stream at most nackResendMax packets a second: a
// viewer asking for everything cannot make the server send more than
// that on top of the stream (a lossy 1.5 Mbps stream needs a few dozen).
type nackResponder struct {
	interceptor.NoOp
	mu      sync.Mutex
	streams map[uint32]*sentRing
}

const (
	sentKept      = 1024                  // packets kept per stream, as pion keeps: ~7 s of 1.5 Mbps video
	nackResendGap = 50 * time.Millisecond // a packet is resent at most once in this time
	nackResendMax = 500                   // packets resent per stream per second, at most
)

type sentPacket struct {
	header  rtp.Header
	payload []byte
	resent  time.Time
	kept    bool
}

// sentRing is one stream's kept packets, by sequence number modulo sentKept.
type sentRing struct {
	mu     sync.Mutex
	writer interceptor.RTPWriter // toward the network
	pkts   [sentKept]sentPacket
	second time.Time // start of the second being counted
	resent int       // packets resent in it
}

// nackResponderFactory makes a nackResponder per connection.
type nackResponderFactory struct{}

func (nackResponderFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &nackResponder{streams: map[uint32]*sentRing{}}, nil
}

// BindLocalStream keeps what is written to a stream that negotiated NACK.
func (n *nackResponder) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	if !negotiatedNack(info) {
		return writer
	}
	r := &sentRing{writer: writer}
	n.mu.Lock()
	n.streams[info.SSRC] = r
	n.mu.Unlock()
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if h.SSRC == info.SSRC {
			r.mu.Lock()
			p := &r.pkts[h.SequenceNumber%sentKept]
			p.header, p.payload, p.resent, p.kept = *h, payload, time.Time{}, true
			r.mu.Unlock()
		}
		return writer.Write(h, payload, a)
	})
}

// UnbindLocalStream forgets the stream's packets.
func (n *nackResponder) UnbindLocalStream(info *interceptor.StreamInfo) {
	n.mu.Lock()
	delete(n.streams, info.SSRC)
	n.mu.Unlock()
}

// BindRTCPReader answers the NACKs among the RTCP read, in the reading
// goroutine: a resend is an SRTP write of a packet already made.
func (n *nackResponder) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		i, attr, err := reader.Read(b, a)
		if err != nil {
			return 0, nil, err
		}
		if attr == nil {
			attr = interceptor.Attributes{}
		}
		pkts, err := attr.GetRTCPPackets(b[:i])
		if err != nil {
			return 0, nil, err
		}
		for _, p := range pkts {
			if nack, ok := p.(*rtcp.TransportLayerNack); ok {
				n.resend(nack, time.Now())
			}
		}
		return i, attr, nil
	})
}

func (n *nackResponder) resend(nack *rtcp.TransportLayerNack, now time.Time) {
	n.mu.Lock()
	r := n.streams[nack.MediaSSRC]
	n.mu.Unlock()
	if r == nil {
		return
	}
	for _, pair := range nack.Nacks {
		for _, seq := range pair.PacketList() {
			r.mu.Lock()
			p := &r.pkts[seq%sentKept]
			if !p.kept || p.header.SequenceNumber != seq || now.Sub(p.resent) < nackResendGap {
				r.mu.Unlock()
				continue
			}
			if now.Sub(r.second) >= time.Second {
				r.second, r.resent = now, 0
			}
			if r.resent >= nackResendMax {
				r.mu.Unlock()
				return
			}
			r.resent++
			p.resent = now
			h, payload := p.header, p.payload
			r.mu.Unlock()
			_, _ = r.writer.Write(&h, payload, nil) // a viewer that went away gets no resend
		}
	}
}

// Close forgets every stream.
func (n *nackResponder) Close() error {
	n.mu.Lock()
	clear(n.streams)
	n.mu.Unlock()
	return nil
}

func negotiatedNack(info *interceptor.StreamInfo) bool {
	for _, fb := range info.RTCPFeedback {
		if fb.Type == "nack" && fb.Parameter == "" {
			return true
		}
	}
	return false
}
