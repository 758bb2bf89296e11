package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}

// The server answers /healthz and /metrics before any check or route is
// registered; /readyz gives the reason it is not ready; checks and routes
// added while it serves take effect.
func TestServesWhileStarting(t *testing.T) {
	s := New(prometheus.NewRegistry())
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	if code, _ := get(t, ts.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz %d", code)
	}
	if resp, err := http.Get(ts.URL + "/metrics"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics %v %v", resp, err)
	}
	var started atomic.Bool
	s.Ready("startup", func() (bool, string) {
		if !started.Load() {
			return false, "waiting for Kafka topics: input topics missing: a, b"
		}
		return true, "started"
	})
	code, body := get(t, ts.URL+"/readyz")
	if code != http.StatusServiceUnavailable || body["reason"] != "startup: waiting for Kafka topics: input topics missing: a, b" {
		t.Fatalf("/readyz while waiting: %d %v", code, body)
	}
	started.Store(true)
	s.Handle("GET /v1/x", func(w http.ResponseWriter, _ *http.Request) { WriteJSON(w, http.StatusOK, "x") })
	code, body = get(t, ts.URL+"/readyz")
	if _, has := body["reason"]; code != http.StatusOK || has {
		t.Fatalf("/readyz once started: %d %v", code, body)
	}
	if resp, err := http.Get(ts.URL + "/v1/x"); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("route added while serving: %v %v", resp, err)
	}
}
