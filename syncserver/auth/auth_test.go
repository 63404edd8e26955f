package auth_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/hearthdb/hearth/syncserver/auth"
)

var secret = []byte("0123456789abcdef0123456789abcdef-demo")

func TestHS256(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	v, err := auth.NewVerifier(auth.Config{Secret: secret, Audience: "hearth-sync", Issuer: "hearth-demo", Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	is := &auth.Issuer{Secret: secret, Audience: "hearth-sync", Issuer: "hearth-demo", Now: clock}
	tok, err := is.Issue("ann", []string{"ws-main", "ws-2"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "ann" || !slices.Equal(c.Scopes, []string{"ws-main", "ws-2"}) || !c.Expires.Equal(now.Add(time.Hour)) {
		t.Fatalf("claims %+v", c)
	}

	refuse := func(name, tok string, want error) {
		t.Helper()
		_, err := v.Verify(tok)
		if err == nil {
			t.Fatalf("%s: accepted", name)
		}
		if want != nil && !errors.Is(err, want) {
			t.Fatalf("%s: %v, want %v", name, err, want)
		}
	}
	other := &auth.Issuer{Secret: []byte(strings.Repeat("x", 40)), Audience: "hearth-sync", Issuer: "hearth-demo", Now: clock}
	bad, _ := other.Issue("ann", nil, time.Hour)
	refuse("bad signature", bad, jwt.ErrTokenSignatureInvalid)
	// Another subject's claims under ann's signature.
	eve, _ := is.Issue("eve", nil, time.Hour)
	parts := strings.Split(tok, ".")
	parts[1] = strings.Split(eve, ".")[1]
	refuse("swapped claims", strings.Join(parts, "."), jwt.ErrTokenSignatureInvalid)
	wrongAud := &auth.Issuer{Secret: secret, Audience: "someone-else", Issuer: "hearth-demo", Now: clock}
	tw, _ := wrongAud.Issue("ann", nil, time.Hour)
	refuse("wrong audience", tw, jwt.ErrTokenInvalidAudience)
	noAud := &auth.Issuer{Secret: secret, Issuer: "hearth-demo", Now: clock}
	tn, _ := noAud.Issue("ann", nil, time.Hour)
	refuse("no audience", tn, jwt.ErrTokenRequiredClaimMissing)
	wrongIss := &auth.Issuer{Secret: secret, Audience: "hearth-sync", Issuer: "evil", Now: clock}
	ti, _ := wrongIss.Issue("ann", nil, time.Hour)
	refuse("wrong issuer", ti, jwt.ErrTokenInvalidIssuer)
	old := &auth.Issuer{Secret: secret, Audience: "hearth-sync", Issuer: "hearth-demo", Now: func() time.Time { return now.Add(-2 * time.Hour) }}
	te, _ := old.Issue("ann", nil, time.Hour)
	refuse("expired", te, jwt.ErrTokenExpired)
	future := &auth.Issuer{Secret: secret, Audience: "hearth-sync", Issuer: "hearth-demo", Now: func() time.Time { return now.Add(time.Hour) }}
	tf, _ := future.Issue("ann", nil, time.Hour)
	refuse("not yet valid", tf, jwt.ErrTokenNotValidYet)
	nosub, _ := is.Issue("", nil, time.Hour)
	refuse("no subject", nosub, nil)
	// alg "none" is never accepted.
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "ann", "aud": "hearth-sync", "iss": "hearth-demo"}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	refuse("alg none", none, nil)
	refuse("garbage", "not.a.token", nil)
	// A token without exp would never expire: refused.
	noExp, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "ann", "aud": "hearth-sync", "iss": "hearth-demo"}).SignedString(secret)
	refuse("no exp", noExp, jwt.ErrTokenRequiredClaimMissing)
}

// RSA keys below 2048 bits are refused when the verifier is built.
func TestShortRSAKeyRefused(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := auth.NewVerifier(auth.Config{RSAKey: &k.PublicKey}); err == nil || !strings.Contains(err.Error(), "2048") {
		t.Fatalf("a 1024-bit RSA key: %v, want a refusal naming 2048 bits", err)
	}
}

func TestAsymmetricKeys(t *testing.T) {
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemOf := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	}
	claims := jwt.MapClaims{"sub": "bob", "exp": jwt.NewNumericDate(time.Now().Add(time.Hour)), "ws": "ws-main"}
	edTok, _ := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(edPriv)
	rsaTok, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(rsaPriv)

	edV, err := auth.NewVerifierFromPEM(pemOf(edPub), auth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	rsaV, err := auth.NewVerifierFromPEM(pemOf(&rsaPriv.PublicKey), auth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := edV.Verify(edTok); err != nil || c.Subject != "bob" || !slices.Equal(c.Scopes, []string{"ws-main"}) {
		t.Fatalf("EdDSA: %+v %v", c, err)
	}
	if c, err := rsaV.Verify(rsaTok); err != nil || c.Subject != "bob" {
		t.Fatalf("RS256: %+v %v", c, err)
	}
	// Each verifier takes only its own algorithm.
	if _, err := edV.Verify(rsaTok); err == nil {
		t.Fatal("the EdDSA verifier accepted an RS256 token")
	}
	if _, err := rsaV.Verify(edTok); err == nil {
		t.Fatal("the RS256 verifier accepted an EdDSA token")
	}
	// HMAC signed with the public key's bytes (the classic confusion
	// attack) is refused: the method is pinned.
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(pemOf(&rsaPriv.PublicKey))
	if _, err := rsaV.Verify(forged); !errors.Is(err, jwt.ErrTokenSignatureInvalid) && err == nil {
		t.Fatal("the RS256 verifier accepted an HS256 token")
	}
	if _, err := auth.NewVerifier(auth.Config{}); err == nil {
		t.Fatal("a verifier without a key")
	}
	if _, err := auth.NewVerifier(auth.Config{Secret: []byte("short")}); err == nil {
		t.Fatal("a short secret")
	}
}

func TestTokenFromRequest(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := (&auth.Issuer{Secret: secret}).Issue("ann", []string{"ws-main"}, time.Minute)

	r := httptest.NewRequest("GET", "/sync", nil)
	if _, err := v.Identify(r); !errors.Is(err, auth.ErrNoToken) {
		t.Fatalf("no token: %v", err)
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	if id, err := v.Identify(r); err != nil || id.Principal != "ann" || id.Expires.IsZero() || !slices.Equal(id.Scopes, []string{"ws-main"}) {
		t.Fatalf("header: %+v %v", id, err)
	}
	q := httptest.NewRequest("GET", "/sync?token="+url.QueryEscape(tok), nil)
	if p, err := v.Authenticate(q); err != nil || p != "ann" {
		t.Fatalf("query: %q %v", p, err)
	}
}

// TestRoles: the role claim, under its default or configured name, reaches
// the claims and the identity; a malformed one is refused.
func TestRoles(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	for _, claim := range []string{"", "grp"} {
		v, err := auth.NewVerifier(auth.Config{Secret: secret, RoleClaim: claim, Now: clock})
		if err != nil {
			t.Fatal(err)
		}
		is := &auth.Issuer{Secret: secret, RoleClaim: claim, Now: clock}
		tok, err := is.IssueWithRoles("ann", []string{"ws-main"}, []string{"admin", "ops"}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		c, err := v.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(c.Roles, []string{"admin", "ops"}) || !slices.Equal(c.Scopes, []string{"ws-main"}) {
			t.Fatalf("claim %q: %+v", claim, c)
		}
		plain, _ := is.Issue("bob", nil, time.Hour)
		if c, err := v.Verify(plain); err != nil || c.Roles != nil {
			t.Fatalf("claim %q: no roles: %+v %v", claim, c, err)
		}
	}
	v, _ := auth.NewVerifier(auth.Config{Secret: secret, Now: clock})
	bad, _ := (&auth.Issuer{Secret: secret, RoleClaim: "roles", ScopeClaim: "x", Now: clock}).IssueWithRoles("ann", nil, nil, time.Hour)
	if _, err := v.Verify(bad); err != nil {
		t.Fatalf("no roles claim: %v", err)
	}
}
