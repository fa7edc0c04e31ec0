package server

import (
	"fmt"
	"testing"
)

// TestRoomRefusesNULText: a room message whose text holds a NUL (an
// instruction, a note's body) is refused with text_invalid, as the same
// text is over HTTP (checkJSONText), on either database: not stored with
// the NUL on SQLite, nor answered "internal" when PostgreSQL refuses it.
func TestRoomRefusesNULText(t *testing.T) {
	rf := newRoomFixture(t)
	for _, msg := range []string{
		`{"type":"instruction","text":"show the\u0000 fire exit"}`,
		`{"type":"annotation","body":"crack\u0000","severity":"concern"}`,
	} {
		code := ""
		for _, r := range rf.replies(t, []byte(msg), 1) {
			if er, ok := r["error"].(map[string]any); ok {
				code = fmt.Sprint(er["code"])
			}
		}
		if code != "text_invalid" {
			t.Errorf("%s: got error code %q, want text_invalid", msg, code)
		}
	}
}
