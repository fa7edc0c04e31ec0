package storage_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"siteinspect/domain"
	"siteinspect/internal/testenv"
	"siteinspect/storage"
	"siteinspect/storage/objects"
)

// TestJoinLinkSealedAtRest checks that a live invitation's join link (it
// holds the publish token) is in the database only sealed, under a key in
// the object store: an invitation stored before the key existed is sealed
// when it is loaded; the recipient's inbox and the delivery jobs read the
// link as before; another replica on the same stores opens it too; and a
// database whose key is gone shows the invitation without a link rather
// than failing.
func TestJoinLinkSealedAtRest(t *testing.T) {
	forDialects(t, func(t *testing.T, dsn string, db *storage.DB) {
		ctx := context.Background()
		store := testenv.NewMinIO(t)
		f := newInReview(t, db)
		// rows is every notification's data as the database holds it.
		rows := func() string {
			r, err := db.SQL().QueryContext(ctx, `SELECT data FROM notifications`)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var all []string
			for r.Next() {
				var s string
				if err := r.Scan(&s); err != nil {
					t.Fatal(err)
				}
				all = append(all, s)
			}
			return strings.Join(all, "\n")
		}
		// link is the join link of the applicant's newest invitation as
		// their inbox reads it on d, and the notification's id.
		link := func(d *storage.DB) (string, string) {
			items, _, err := d.Notifications(ctx, f.applicant.ID, "", 10)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range items {
				if n.Kind == domain.NotifyLiveInvite {
					var data map[string]any
					json.Unmarshal(n.Data, &data)
					if _, ok := data["join_link_sealed"]; ok {
						t.Errorf("inbox data %s: the sealed link is shown", n.Data)
					}
					s, _ := data["join_link"].(string)
					return s, n.ID
				}
			}
			t.Fatal("no invitation in the applicant's inbox")
			return "", ""
		}

		// An invitation stored by a server before this one: in the clear.
		first, firstToken, err := db.CreateLiveSession(ctx, f.cs, f.inspector, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(rows(), firstToken) {
			t.Fatal("without a key the invitation should hold its link in the clear; the test is wrong")
		}
		if err := db.LoadNotifyKey(ctx, store); err != nil {
			t.Fatal(err)
		}
		if got := rows(); strings.Contains(got, firstToken) || !strings.Contains(got, "join_link_sealed") {
			t.Fatalf("after LoadNotifyKey the earlier invitation still holds its token in the clear: %s", got)
		}
		if got, _ := link(db); got != domain.LiveJoinPath(first.ID, firstToken) {
			t.Fatalf("the earlier invitation's link: got %q, want %q", got, domain.LiveJoinPath(first.ID, firstToken))
		}
		if _, _, err := db.EndLiveSession(ctx, first, f.inspector.ID, "ended", nil); err != nil {
			t.Fatal(err)
		}

		// A new invitation is sealed from the start, and reads as before.
		ls, token, err := db.CreateLiveSession(ctx, f.cs, f.inspector, nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if got := rows(); strings.Contains(got, token) || strings.Contains(got, `"join_link"`) {
			t.Fatalf("notifications hold a join link in the clear: %s", got)
		}
		want := domain.LiveJoinPath(ls.ID, token)
		got, id := link(db)
		if got != want {
			t.Fatalf("inbox link: got %q, want %q", got, want)
		}
		del, err := db.Delivery(ctx, id, domain.ChannelEmail)
		if err != nil {
			t.Fatal(err)
		}
		var data struct {
			JoinLink string `json:"join_link"`
		}
		if json.Unmarshal(del.Notification.Data, &data); data.JoinLink != want {
			t.Fatalf("delivery's link: got %q, want %q", data.JoinLink, want)
		}

		// Another replica on the same database and object store.
		other := testenv.OpenDBAt(t, dsn)
		if err := other.LoadNotifyKey(ctx, store); err != nil {
			t.Fatal(err)
		}
		if got, _ := link(other); got != want {
			t.Fatalf("another replica's inbox link: got %q, want %q", got, want)
		}

		// The key is lost (another object store): no link, no failure.
		disk, err := objects.NewDisk(filepath.Join(t.TempDir(), "objects"))
		if err != nil {
			t.Fatal(err)
		}
		lost := testenv.OpenDBAt(t, dsn)
		if err := lost.LoadNotifyKey(ctx, disk); err != nil {
			t.Fatal(err)
		}
		if got, _ := link(lost); got != "" {
			t.Fatalf("with another key the link opened: %q", got)
		}
	})
}
