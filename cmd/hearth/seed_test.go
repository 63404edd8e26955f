package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ncruces/go-sqlite3"
)

func TestSeedDayIsTheFlagOrTheClocksDateInItsZone(t *testing.T) {
	kiritimati, err := time.LoadLocation("Pacific/Kiritimati")
	if err != nil {
		t.Fatal(err)
	}
	adak, err := time.LoadLocation("America/Adak")
	if err != nil {
		t.Fatal(err)
	}
	instant := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		flag string
		now  time.Time
		want string
	}{
		{"", instant.In(kiritimati), "2026-12-06"},
		{"", instant.In(adak), "2026-12-05"},
		{"", instant.AddDate(0, 0, -365).In(adak).Add(-11 * time.Hour), "2025-12-04"},
		{"2027-12-05", instant, "2027-12-05"},
	} {
		day, err := seedDay(tc.flag, tc.now)
		if err != nil {
			t.Fatal(err)
		}
		if got := day.Format(time.DateOnly); got != tc.want {
			t.Errorf("seedDay(%q, %v) = %s, want %s", tc.flag, tc.now, got, tc.want)
		}
	}
	if _, err := seedDay("5/12/2027", instant); err == nil {
		t.Error("seedDay accepted 5/12/2027")
	}
}

// TestServeSeedsAroundSeedToday: a device syncing from `hearth serve
// -seed-today` finds the seed's meetings around that day.
func TestServeSeedsAroundSeedToday(t *testing.T) {
	base := startServe(t, "-seed-tasks", "40", "-seed-today", "2027-12-05")
	d := newDevice(t, base)
	want := "2027-12-04,2027-12-05,2027-12-06"
	var days string
	for deadline := time.Now().Add(30 * time.Second); days != want && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		err := d.local.Do(context.Background(), func(conn *sqlite3.Conn) error {
			s, _, err := conn.Prepare(`SELECT group_concat(day, ',') FROM (SELECT DISTINCT substr(slot, 1, 10) AS day FROM bookings ORDER BY day)`)
			if err != nil {
				return err
			}
			defer s.Close()
			if s.Step() {
				days = s.ColumnText(0)
			}
			return s.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if days != want {
		t.Fatalf("the seed's meetings are on %q, want %q", days, want)
	}
}

// TestDemoTokenSaysHowLongItLasts: the board times its token renewal by
// expiresIn on its own clock, not by expiresAt on the server's.
func TestDemoTokenSaysHowLongItLasts(t *testing.T) {
	base := startServe(t, "-demo-auth", "-seed-tasks", "0")
	var got struct {
		Token     string `json:"token"`
		ExpiresAt int64  `json:"expiresAt"`
		ExpiresIn int64  `json:"expiresIn"`
	}
	if err := json.NewDecoder(strings.NewReader(get(t, base+"demo/token?user=u-01"))).Decode(&got); err != nil {
		t.Fatal(err)
	}
	if got.Token == "" || got.ExpiresIn != int64(demoTokenTTL/time.Second) {
		t.Fatalf("token %q expiresIn %d, want a token and %d", got.Token, got.ExpiresIn, int64(demoTokenTTL/time.Second))
	}
}

// TestDemoTokenWithoutAuthenticationIsNoContent: `make demo` runs without
// authentication; the board still asks for a token on every start, and
// gets 204 (none needed) rather than a 404 its console reports as an error.
func TestDemoTokenWithoutAuthenticationIsNoContent(t *testing.T) {
	base := startServe(t, "-seed-tasks", "0")
	resp, err := http.Get(base + "demo/token?user=u-01")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("GET /demo/token without authentication: %s, want 204 No Content", resp.Status)
	}
}
