package wire

import (
	"reflect"
	"testing"

	"github.com/hearthdb/hearth/codec"
)

// TestOptionalFields: maxBatch, now, maxSkew and retryAfter round-trip,
// and are left out when zero so older peers see the messages they know.
func TestOptionalFields(t *testing.T) {
	for _, m := range []Message{
		Welcome{Server: "s", Head: 3, Min: 1, Max: 2, MaxMessage: 1 << 20, MaxBatch: 7},
		Welcome{Server: "s", Head: 3, Min: 1, Max: 2, MaxMessage: 1 << 20},
		Welcome{Server: "s", Head: 3, Min: 1, Max: 2, MaxMessage: 1 << 20, Now: 1_700_000_000_123, MaxSkew: 300_000},
		Welcome{Server: "s", Head: 3, Min: 1, Max: 2, MaxMessage: 1 << 20, Now: 1_700_000_000_123},
		&Error{Re: 4, Code: CodeRateLimited, Message: "slow down", RetryAfter: 250},
		&Error{Code: CodeAuthExpired, Message: "expired"},
	} {
		b, err := Encode(m, 1)
		if err != nil {
			t.Fatal(err)
		}
		f, err := Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(f.Msg, m) {
			t.Fatalf("round trip: %#v, want %#v", f.Msg, m)
		}
		v, err := codec.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		fields := v.(map[string]any)
		_, hasBatch := fields["maxBatch"]
		_, hasRetry := fields["retryAfter"]
		_, hasNow := fields["now"]
		_, hasSkew := fields["maxSkew"]
		switch m := m.(type) {
		case Welcome:
			if hasBatch != (m.MaxBatch != 0) {
				t.Fatalf("maxBatch written: %v for %#v", hasBatch, m)
			}
			if hasNow != (m.Now != 0) || hasSkew != (m.MaxSkew != 0) {
				t.Fatalf("now/maxSkew written: %v/%v for %#v", hasNow, hasSkew, m)
			}
		case *Error:
			if hasRetry != (m.RetryAfter != 0) {
				t.Fatalf("retryAfter written: %v for %#v", hasRetry, m)
			}
		}
	}
}
