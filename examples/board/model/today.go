package model

import "time"

// Today is the rule for "today", the one place the board and the seed take
// it from: the calendar date of now as read on now's own clock and in its
// own time zone (the browser's for the board, the server's for its seed),
// as midnight UTC. Board dates are wall-calendar dates with no zone (a
// booking's slot "2026-12-05T10:00" is ten o'clock wherever the room is),
// so they are kept in UTC, where adding days never meets a DST change.
//
// Who reads the clock is the caller's business: the board reads the
// page's clock, `hearth serve -seed-today` overrides the server's, and
// tests pass a fixed time.
func Today(now time.Time) time.Time {
	y, m, d := now.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// DateLayout is how a day is written in the data (due dates) and read
// from flags.
const DateLayout = "2006-01-02"

// SlotLayout is how a booking's slot (a day and an hour) is written.
const SlotLayout = "2006-01-02T15:04"
