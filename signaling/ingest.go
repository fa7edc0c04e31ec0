package signaling

import (
	"sync"
	"time"
)

// ingestBurst is how much more than the bound's rate a session's
// publisher may send at once, in seconds of that rate: a keyframe, or a phone catching up after
// its signal came back.
const ingestBurst = 2 * time.Second

// ingestBudget bounds what a session's publishers may bring in (a token
// bucket over audio and video together, counting RTP payloads, shared by
// a publisher and the ones that reconnect after it): the packets past it
// are neither forwarded nor recorded. A phone's browser sends at most
// 2.5 Mbps (web/static/views/live/rtc.js); a client of one's own making
// could send far more, and everything it sends would be recorded into
// the case's evidence, which the object store keeps for years. A nil
// budget takes everything.
type ingestBudget struct {
	mu      sync.Mutex
	rate    float64 // bytes a second
	burst   float64 // bytes
	tokens  float64
	last    time.Time
	dropped uint64
}

// newIngestBudget is a budget of kbps kilobits a second, or nil when kbps
// is not positive.
func newIngestBudget(kbps int, now time.Time) *ingestBudget {
	if kbps <= 0 {
		return nil
	}
	rate := float64(kbps) * 1000 / 8
	burst := rate * ingestBurst.Seconds()
	return &ingestBudget{rate: rate, burst: burst, tokens: burst, last: now}
}

// take spends n bytes at now and reports whether they were within the
// budget; first is true for the first packet it refuses.
func (b *ingestBudget) take(n int, now time.Time) (ok, first bool) {
	if b == nil {
		return true, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if float64(n) > b.tokens {
		b.dropped++
		return false, b.dropped == 1
	}
	b.tokens -= float64(n)
	return true, false
}

// droppedPackets is how many packets the budget has refused.
func (b *ingestBudget) droppedPackets() uint64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.dropped
}
