package auth_test

import (
	"encoding/base64"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hearthdb/hearth/syncserver/auth"
)

// FuzzVerify signs whatever claims the fuzzer makes up with the
// verifier's secret, so that the checks after the signature's are
// reached: Verify must not panic, and a token it accepts has a subject,
// has not expired, and grants the scopes its claim lists.
func FuzzVerify(f *testing.F) {
	for _, claims := range []string{
		`{"sub":"ann","exp":1800003600,"ws":["ws-main","ws-2"]}`,
		`{"sub":"ann","exp":1800003600,"ws":"ws-main"}`,
		`{"sub":"ann","ws":[1]}`,
		`{"sub":"","exp":1800003600}`,
		`{"sub":"ann","exp":1700000000}`,
		`{"sub":"ann","nbf":1900000000,"exp":"soon"}`,
		`[]`,
	} {
		f.Add([]byte(claims))
	}
	now := time.Unix(1_800_000_000, 0)
	v, err := auth.NewVerifier(auth.Config{Secret: secret, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	f.Fuzz(func(t *testing.T, claims []byte) {
		unsigned := header + "." + base64.RawURLEncoding.EncodeToString(claims)
		sig, err := jwt.SigningMethodHS256.Sign(unsigned, secret)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Verify(unsigned + "." + base64.RawURLEncoding.EncodeToString(sig))
		if err != nil {
			return
		}
		var fields map[string]any
		if err := json.Unmarshal(claims, &fields); err != nil {
			t.Fatalf("%s: accepted claims that are not a JSON object: %v", claims, err)
		}
		if sub, _ := fields["sub"].(string); sub == "" || sub != got.Subject {
			t.Fatalf("%s: accepted with subject %q", claims, got.Subject)
		}
		if _, has := fields["exp"]; has && !got.Expires.After(now) {
			t.Fatalf("%s: accepted though it expired at %v", claims, got.Expires)
		}
		var want []string
		switch ws := fields[auth.DefaultScopeClaim].(type) {
		case string:
			want = []string{ws}
		case []any:
			for _, s := range ws {
				want = append(want, s.(string))
			}
		}
		if !slices.Equal(got.Scopes, want) {
			t.Fatalf("%s: accepted with scopes %q", claims, got.Scopes)
		}
	})
}
