package syncserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/hearthdb/hearth/syncworker/wire"
	"golang.org/x/time/rate"
)

// MinServiceTokenLength is the shortest service token WriteHandler
// accepts: a token is a secret, not a password.
const MinServiceTokenLength = 32

// Codes of the write endpoint's HTTP errors, beside the wire codes.
const (
	// CodeMethodNotAllowed: the write endpoint takes POST only.
	CodeMethodNotAllowed = "METHOD_NOT_ALLOWED"
)

// ValidServiceToken checks a configured service token: long enough not
// to be guessed, and one word (a token file holds one per line).
func ValidServiceToken(token string) error {
	if len(token) < MinServiceTokenLength {
		return fmt.Errorf("a service token must be at least %d characters, got %d", MinServiceTokenLength, len(token))
	}
	if strings.ContainsAny(token, " \t") {
		return errors.New("a service token has no spaces")
	}
	return nil
}

// ServicePrincipal is the principal a service token writes as:
// "service:" and the first 8 hex digits of the token's SHA-256, which
// names the token in logs and hooks without revealing it.
func ServicePrincipal(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "service:" + hex.EncodeToString(sum[:4])
}

// serviceToken is one configured token, kept as its hash.
type serviceToken struct {
	sum       [sha256.Size]byte
	principal string
	// limiter is the token's write rate (nil: unlimited).
	limiter *rate.Limiter
}

// writeHandler serves POST /v1/write.
type writeHandler struct {
	s      *Server
	tokens []serviceToken
}

// WriteHandler is the backend write endpoint, to mount at POST
// /v1/write (see PROTOCOL.md, Backend writes). A request authenticates
// with "Authorization: Bearer <token>", one of tokens (tokens shorter
// than MinServiceTokenLength never match; check them with
// ValidServiceToken first); user JWTs are not accepted. Each token has
// its own rate bucket, Config.PushRate changes per second.
func (s *Server) WriteHandler(tokens []string) http.Handler {
	h := &writeHandler{s: s}
	for _, tok := range tokens {
		if ValidServiceToken(tok) != nil {
			s.log.Error("sync: a service token is too short and will not be accepted", "principal", ServicePrincipal(tok))
			continue
		}
		st := serviceToken{sum: sha256.Sum256([]byte(tok)), principal: ServicePrincipal(tok)}
		if s.cfg.PushRate > 0 {
			st.limiter = rate.NewLimiter(rate.Limit(s.cfg.PushRate), s.cfg.PushBurst)
		}
		h.tokens = append(h.tokens, st)
	}
	return h
}

// authenticate finds the request's token. Every configured token is
// compared, in constant time, whichever matches.
func (h *writeHandler) authenticate(r *http.Request) *serviceToken {
	auth := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(auth) <= len(prefix) || !strings.EqualFold(auth[:len(prefix)], prefix) {
		return nil
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(auth[len(prefix):])))
	var found *serviceToken
	for i := range h.tokens {
		if subtle.ConstantTimeCompare(sum[:], h.tokens[i].sum[:]) == 1 {
			found = &h.tokens[i]
		}
	}
	return found
}

// writeErrorBody is the JSON of a refused request.
type writeErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// RetryAfterMillis, for RATE_LIMITED, is the wait after which the
	// write fits (Retry-After has it in whole seconds).
	RetryAfterMillis int64 `json:"retry_after_ms,omitempty"`
}

// writeResponseBody is the JSON of a write's outcome.
type writeResponseBody struct {
	Results []writeRowJSON `json:"results"`
	Head    int64          `json:"head"`
}

type writeRowJSON struct {
	Status  string `json:"status"`
	Pos     int64  `json:"pos,omitempty"`
	Code    string `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

func (h *writeHandler) fail(w http.ResponseWriter, status int, body writeErrorBody) {
	h.s.metrics.countError(errWrite, body.Code)
	level := slog.LevelInfo
	if body.Code == wire.CodeRateLimited {
		level = slog.LevelDebug // routine under load; the metric counts them
	}
	h.s.log.Log(context.Background(), level, "sync: backend write refused", "status", status, "code", body.Code, "message", body.Message)
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"code":"INTERNAL","message":"the response could not be encoded"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// writeStatus is the HTTP status of a write refused as a whole.
func writeStatus(code string) int {
	switch code {
	case wire.CodeBadRequest:
		return http.StatusBadRequest
	case wire.CodeBatchTooLarge, CodeIdempotencyMismatch:
		return http.StatusUnprocessableEntity
	case wire.CodeShuttingDown:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (h *writeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.s
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		h.fail(w, http.StatusMethodNotAllowed, writeErrorBody{Code: CodeMethodNotAllowed, Message: "the write endpoint takes POST"})
		return
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		h.fail(w, http.StatusServiceUnavailable, writeErrorBody{Code: wire.CodeShuttingDown, Message: "the sync server is shutting down"})
		return
	}
	tok := h.authenticate(r)
	if tok == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="hearth write"`)
		h.fail(w, http.StatusUnauthorized, writeErrorBody{Code: wire.CodeUnauthorized, Message: "a service token is required: Authorization: Bearer <token>"})
		return
	}
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		h.fail(w, http.StatusBadRequest, writeErrorBody{Code: wire.CodeBadRequest, Message: "the Idempotency-Key header is required"})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxMessageBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			h.fail(w, http.StatusRequestEntityTooLarge, writeErrorBody{Code: wire.CodeTooLarge, Message: fmt.Sprintf("the body is over %d bytes; send smaller writes", s.cfg.MaxMessageBytes)})
			return
		}
		h.fail(w, http.StatusBadRequest, writeErrorBody{Code: wire.CodeBadRequest, Message: "reading the body: " + err.Error()})
		return
	}
	rows, err := decodeWriteBody(body)
	if err != nil {
		h.fail(w, http.StatusBadRequest, writeErrorBody{Code: wire.CodeBadRequest, Message: err.Error()})
		return
	}
	req := WriteRequest{Principal: tok.principal, IdempotencyKey: key, Changes: rows}
	prepared, err := s.prepareWrite(req)
	if err != nil {
		var we *WriteError
		if !errors.As(err, &we) {
			we = writeErr(wire.CodeInternal, "%v", err)
		}
		h.fail(w, writeStatus(we.Code), writeErrorBody{Code: we.Code, Message: we.Message})
		return
	}
	if tok.limiter != nil {
		if retry, ok := takeTokens(tok.limiter, len(rows), s.cfg.Now()); !ok {
			w.Header().Set("Retry-After", strconv.FormatInt((retry+999)/1000, 10))
			h.fail(w, http.StatusTooManyRequests, writeErrorBody{Code: wire.CodeRateLimited, RetryAfterMillis: retry,
				Message: fmt.Sprintf("over %g changes per second for this token; write again in %d ms", s.cfg.PushRate, retry)})
			return
		}
	}
	res, err := s.writePrepared(r.Context(), prepared)
	if err != nil {
		var we *WriteError
		if !errors.As(err, &we) {
			we = writeErr(wire.CodeInternal, "%v", err)
		}
		h.fail(w, writeStatus(we.Code), writeErrorBody{Code: we.Code, Message: we.Message})
		return
	}
	out := writeResponseBody{Head: res.Head, Results: make([]writeRowJSON, len(res.Results))}
	for i, r := range res.Results {
		out.Results[i] = writeRowJSON(r)
	}
	writeJSON(w, http.StatusOK, out)
}

// writeBody is the JSON request of POST /v1/write.
type writeBody struct {
	Changes []writeBodyRow `json:"changes"`
}

type writeBodyRow struct {
	Table  string         `json:"table"`
	Op     string         `json:"op"`
	Values map[string]any `json:"values"`
	Key    map[string]any `json:"key"`
}

// decodeWriteBody reads a write request's JSON. Numbers stay
// json.Number (exact integers); unknown fields and trailing data are
// errors, so a misspelt field is not silently ignored.
func decodeWriteBody(b []byte) ([]RowWrite, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	var body writeBody
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("bad JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("bad JSON: data after the request object")
	}
	if body.Changes == nil {
		return nil, errors.New(`the request has no "changes"`)
	}
	rows := make([]RowWrite, len(body.Changes))
	for i, c := range body.Changes {
		if c.Table == "" {
			return nil, fmt.Errorf("change %d has no table", i)
		}
		switch c.Op {
		case OpUpsert:
			if c.Values == nil {
				return nil, fmt.Errorf(`change %d: an upsert needs "values"`, i)
			}
		case OpDelete:
			if c.Key == nil {
				return nil, fmt.Errorf(`change %d: a delete needs "key"`, i)
			}
		default:
			return nil, fmt.Errorf("change %d: unknown op %q (want %q or %q)", i, c.Op, OpUpsert, OpDelete)
		}
		rows[i] = RowWrite(c)
	}
	return rows, nil
}
