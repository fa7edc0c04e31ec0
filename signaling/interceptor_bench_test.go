package signaling

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/interceptor/pkg/stats"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// BenchmarkViewerInterceptors measures what each pion interceptor adds
// to one packet on a viewer's send path (a 1,200-byte VP8 packet through
// the chain to a writer that discards it): the per-packet cost that the
// fan-out pays once per viewer. The connection-wide goroutines some of
// them start (tickers) are not in these figures.
//
//	go test ./signaling -run '^$' -bench ViewerInterceptors -benchmem
func BenchmarkViewerInterceptors(b *testing.B) {
	factories := map[string]func() (interceptor.Factory, error){
		"nack-responder": func() (interceptor.Factory, error) { return nack.NewResponderInterceptor() },
		// Ours, as viewers have it: each packet's header by value and its
		// payload by reference, in a ring made once (nack.go).
		"nack-ours":      func() (interceptor.Factory, error) { return nackResponderFactory{}, nil },
		"nack-generator": func() (interceptor.Factory, error) { return nack.NewGeneratorInterceptor() },
		"sender-report":  func() (interceptor.Factory, error) { return report.NewSenderInterceptor() },
		"stats":          func() (interceptor.Factory, error) { return stats.NewInterceptor() },
		"twcc-header":    func() (interceptor.Factory, error) { return twcc.NewHeaderExtensionInterceptor() },
	}
	for _, set := range [][]string{
		{},
		{"nack-responder"},
		{"nack-ours"},
		{"nack-generator"},
		{"sender-report"},
		{"stats"},
		{"twcc-header"},
		{"nack-responder", "sender-report", "stats"},
		{"nack-ours", "sender-report", "stats"},
		{"nack-responder", "sender-report"},
	} {
		name := "none"
		if len(set) > 0 {
			name = set[0]
			for _, s := range set[1:] {
				name += "+" + s
			}
		}
		b.Run(name, func(b *testing.B) {
			reg := &interceptor.Registry{}
			for _, n := range set {
				f, err := factories[n]()
				if err != nil {
					b.Fatal(err)
				}
				reg.Add(f)
			}
			chain, err := reg.Build("bench")
			if err != nil {
				b.Fatal(err)
			}
			defer chain.Close()
			chain.BindRTCPWriter(interceptor.RTCPWriterFunc(func([]rtcp.Packet, interceptor.Attributes) (int, error) { return 0, nil }))
			info := &interceptor.StreamInfo{
				SSRC: 1234, ClockRate: 90000, MimeType: "video/VP8", PayloadType: 96,
				RTCPFeedback:        []interceptor.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}},
				RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01", ID: 5}},
			}
			w := chain.BindLocalStream(info, interceptor.RTPWriterFunc(func(h *rtp.Header, p []byte, _ interceptor.Attributes) (int, error) {
				return len(p), nil
			}))
			defer chain.UnbindLocalStream(info)
			h := rtp.Header{Version: 2, PayloadType: 96, SSRC: 1234}
			payload := make([]byte, 1200)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.SequenceNumber++
				h.Timestamp += 3000
				if _, err := w.Write(&h, payload, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
