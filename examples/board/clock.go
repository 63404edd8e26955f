package main

import (
	"time"

	"github.com/hearthdb/hearth/examples/board/model"
)

// now is the board's clock, the one every date it shows comes from (the
// rooms view's day, the local seed's). It is the page's clock, in the
// browser's time zone: Go on js/wasm reads Date and performance.now, and
// takes time.Local from the page. Tests move it through the browser
// (Playwright's clock and timezoneId), so the board has no test hook;
// Clock replaces it in Go tests.
func (c *Root) now() time.Time {
	if c.Clock != nil {
		return c.Clock()
	}
	return time.Now()
}

// today is the board's today (model.Today's rule, on the board's clock).
func (c *Root) today() time.Time { return model.Today(c.now()) }
