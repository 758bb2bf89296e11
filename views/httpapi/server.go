// Package httpapi is the HTTP server every service shares: /healthz (alive),
// /readyz (group tables recovered and consuming; 503 before, with the
// reason; degraded sinks reported), /metrics (Prometheus), plus the query
// routes each service's views register, and the web dashboard at /
// (package dashboard), which shows the panels of the routes registered. It
// serves from the start of the process: checks and routes may be added
// while it serves (ServeMux and the check maps are safe for concurrent
// use).
package httpapi

import (
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cdcflow/cdcflow/views/dashboard"
)

// Check reports a component's state and a short detail.
type Check func() (ok bool, detail string)

// Server routes the shared endpoints and the services' queries.
type Server struct {
	mux      *http.ServeMux
	mu       sync.Mutex
	ready    map[string]Check // must pass for /readyz to answer 200
	degraded map[string]Check // reported, but do not fail /readyz
	routes   []string         // query routes, in the order registered
}

// New creates a server exposing reg on /metrics.
func New(reg *prometheus.Registry) *Server {
	s := &Server{mux: http.NewServeMux(), ready: map[string]Check{}, degraded: map[string]Check{}}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	dashboard.Register(s.mux, dashboard.Options{Routes: s.Routes, Metrics: reg})
	return s
}

// Handle registers a query route (Go 1.22 patterns, e.g. "GET /v1/x/{id}").
func (s *Server) Handle(pattern string, h http.HandlerFunc) {
	s.mux.HandleFunc(pattern, h)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes = append(s.routes, pattern)
}

// Routes returns the patterns of the query routes registered so far.
func (s *Server) Routes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.routes)
}

// Ready adds a check that must pass before the service is ready.
func (s *Server) Ready(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready[name] = c
}

// Degraded adds a check whose failure is reported as degraded.
func (s *Server) Degraded(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.degraded[name] = c
}

// Handler returns the server's handler.
func (s *Server) Handler() http.Handler { return s.mux }

type checkResult struct {
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	status, code := "ready", http.StatusOK
	checks := map[string]checkResult{}
	var reasons []string
	for _, name := range sortedKeys(s.ready) {
		ok, d := s.ready[name]()
		checks[name] = checkResult{ok, d}
		if !ok {
			status, code = "not ready", http.StatusServiceUnavailable
			reasons = append(reasons, name+": "+d)
		}
	}
	var degraded []string
	for _, name := range sortedKeys(s.degraded) {
		ok, d := s.degraded[name]()
		checks[name] = checkResult{ok, d}
		if !ok {
			degraded = append(degraded, name)
		}
	}
	if code == http.StatusOK && len(degraded) > 0 {
		status = "degraded"
	}
	body := map[string]any{"status": status, "checks": checks, "degraded": degraded}
	if len(reasons) > 0 {
		// Why it is not ready, in one line: what a probe's log shows.
		body["reason"] = strings.Join(reasons, "; ")
	}
	WriteJSON(w, code, body)
}

func sortedKeys(m map[string]Check) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// WriteJSON writes v as JSON with status code.
func WriteJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Error writes {"error": msg} with status code.
func Error(w http.ResponseWriter, code int, msg string) {
	WriteJSON(w, code, map[string]string{"error": msg})
}
