package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestRoomRateSharedAcrossConnections: the room's limit of a member's
// messages (10 a second after 60) held per connection, so a company user
// with eight connections to the room wrote eight times as many audit
// events, and one who left and joined again got a fresh burst. The
// allowance is now the member's in the room, whatever the number of their
// connections, and outlives them until it has filled again.
func TestRoomRateSharedAcrossConnections(t *testing.T) {
	rf := newRoomFixture(t)
	ts := httptest.NewServer(rf.e.srv)
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const conns, each = 8, 100
	var all []*websocket.Conn
	for range conns {
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/api/v1/live/"+rf.lsID+"/ws",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + rf.e.tokens["app"]}}})
		if err != nil {
			t.Fatalf("dial the room as the company: %v", err)
		}
		defer conn.CloseNow()
		conn.SetReadLimit(1 << 20)
		go func() {
			for {
				if _, _, err := conn.Read(ctx); err != nil {
					return
				}
			}
		}()
		all = append(all, conn)
	}
	for i := range each {
		for k, conn := range all {
			if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"instruction","text":"flood `+strconv.Itoa(k)+`-`+strconv.Itoa(i)+`"}`)); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
	}
	// Leaving and joining again gives no fresh allowance either.
	for range 5 {
		for _, conn := range all {
			conn.Close(websocket.StatusNormalClosure, "")
		}
		conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ts.URL, "http")+"/api/v1/live/"+rf.lsID+"/ws",
			&websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + rf.e.tokens["app"]}}})
		if err != nil {
			t.Fatalf("dial the room again: %v", err)
		}
		defer conn.CloseNow()
		go func() {
			for {
				if _, _, err := conn.Read(ctx); err != nil {
					return
				}
			}
		}()
		all = []*websocket.Conn{conn}
		for i := range each {
			if err := conn.Write(ctx, websocket.MessageText, []byte(`{"type":"instruction","text":"again `+strconv.Itoa(i)+`"}`)); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
	}
	last := settledInstructions(t, rf)
	t.Logf("%d instructions entered the audit trail", last)
	if last > 200 {
		t.Errorf("%d of %d instructions sent over %d connections, then 5 reconnections, entered the audit trail, want about 60 (one member's burst) and 10 a second", last, conns*each+5*each, conns)
	}
}
