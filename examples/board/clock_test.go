package main

import (
	"testing"
	"time"
)

func TestRoomsViewOpensOnTheBoardsToday(t *testing.T) {
	// Late evening in Adak is already the next day in UTC: the board's
	// today is the date on its own clock, in its own zone.
	adak := time.FixedZone("HST", -10*3600)
	c := &Root{Clock: func() time.Time { return time.Date(2027, 12, 5, 22, 30, 0, 0, adak) }}
	c.ShowView(nil, "rooms")
	if got := c.DayLabel(); got != "Sun 5 Dec 2027" {
		t.Fatalf("rooms view opens on %q, want Sun 5 Dec 2027", got)
	}
	if first := c.Slots()[0].Key; first != "2027-12-05T09:00" {
		t.Fatalf("first slot %q, want 2027-12-05T09:00", first)
	}
}

func TestTokenRenewalIsTimedOnTheBoardsClock(t *testing.T) {
	// The page's clock is a year ahead of the server that minted an
	// hour's token: the renewal is still 59 minutes away, not overdue.
	received := time.Date(2027, 12, 5, 10, 0, 0, 0, time.UTC)
	got := tokenRenewal(received, tokenReply{value: "t", expiresIn: 3600})
	if want := received.Add(59 * time.Minute); !got.Equal(want) {
		t.Fatalf("renewal at %v, want %v", got, want)
	}
}
