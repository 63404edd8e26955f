package syncserver

import (
	"context"
	"encoding/json"
	"net/http"
	"time"
)

// healthTimeout bounds the store check: a health probe that hangs is as
// bad as one that fails, and load balancers time out on their own.
const healthTimeout = 2 * time.Second

// Health is the body of the health endpoint.
type Health struct {
	// Status is "ok", "shutting-down" or "store-failed".
	Status string `json:"status"`
	// Server is the store id clients sync with.
	Server  string `json:"server"`
	Head    int64  `json:"head"`
	Schema  int64  `json:"schema"`
	Clients int    `json:"clients"`
	Error   string `json:"error,omitempty"`
}

// HealthHandler answers 200 with a small JSON Health when the store
// answers a read, and 503 when the server is shutting down (so a load
// balancer drains it) or the store fails. Mount it at e.g. /healthz.
func (s *Server) HealthHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, code := s.health(r.Context())
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(h)
	})
}

func (s *Server) health(ctx context.Context) (Health, int) {
	s.mu.Lock()
	closing, clients := s.closing, len(s.conns)
	s.mu.Unlock()
	head, _ := s.head.get()
	h := Health{Status: "ok", Server: s.info.ID, Head: head, Schema: s.info.Version, Clients: clients}
	if closing {
		h.Status = "shutting-down"
		return h, http.StatusServiceUnavailable
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	// Reading the log's end is the cheapest query every store answers,
	// and it goes through the same connection pool the pushes use.
	_, storeHead, err := s.store.Log(ctx, head, 1)
	if err != nil {
		h.Status, h.Error = "store-failed", err.Error()
		return h, http.StatusServiceUnavailable
	}
	h.Head = max(h.Head, storeHead)
	return h, http.StatusOK
}
