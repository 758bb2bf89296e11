package dashboard

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestDescribeShowsThePanelsOfTheRoutes(t *testing.T) {
	inventoryOnly := []string{"GET /v1/inventory/{product_id}", "GET /v1/inventory", "GET /v1/alerts/low-stock", "GET /v1/dead-letters/inventory-service"}
	d := Describe(inventoryOnly)
	if !slices.Equal(d.Panels, []string{PanelInventory, PanelPipeline}) || !d.Alerts {
		t.Errorf("inventory-service: panels %v, alerts %v", d.Panels, d.Alerts)
	}
	if !slices.Equal(d.DeadLetters, []string{"/v1/dead-letters/inventory-service"}) {
		t.Errorf("dead letters %v", d.DeadLetters)
	}
	all := append(inventoryOnly, "GET /v1/reports/{name}", "GET /v1/reports/windows", "GET /v1/search", "GET /v1/products/{product_id}",
		"GET /v1/dead-letters/search-indexer", "GET /v1/dead-letters/analytics-service")
	d = Describe(all)
	if !slices.Equal(d.Panels, []string{PanelInventory, PanelAnalytics, PanelSearch, PanelPipeline}) {
		t.Errorf("all three services: panels %v", d.Panels)
	}
	if len(d.DeadLetters) != 3 || slices.ContainsFunc(d.Links, func(l string) bool { return strings.Contains(l, "{") }) {
		t.Errorf("dead letters %v, links %v", d.DeadLetters, d.Links)
	}
	if d := Describe(nil); !slices.Equal(d.Panels, []string{PanelPipeline}) || d.Alerts {
		t.Errorf("no routes: %+v", d)
	}
}

// The percentiles of /v1/pipeline are PromQL's histogram_quantile: linear
// within the bucket the rank falls into.
func TestPipelineHistogramQuantiles(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "mirror_source_to_sink_seconds", Buckets: []float64{0.1, 0.2, 0.4}}, []string{"table"})
	lag := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "consumer_lag"}, []string{"topic", "partition", "consumer_group"})
	br := prometheus.NewGauge(prometheus.GaugeOpts{Name: "dlq_s3_breaker_state"})
	other := prometheus.NewCounter(prometheus.CounterOpts{Name: "not_on_the_dashboard_total"})
	reg.MustRegister(h, lag, br, other)
	// 10 observations in (0, 0.1], 10 in (0.1, 0.2], none above.
	for i := range 20 {
		h.WithLabelValues("t").Observe(0.05 + 0.1*float64(i/10))
	}
	lag.WithLabelValues("in", "2", "g").Set(7)
	br.Set(2)
	p, err := ReadPipeline(reg, time.UnixMilli(1234))
	if err != nil {
		t.Fatal(err)
	}
	s := p.Series["mirror_source_to_sink_seconds"][0]
	// Rank 10 of 20 is the top of the first bucket: 0.1; rank 19.8 is
	// 98% into the second: 0.1 + 0.1·0.98.
	if s.Count != 20 || s.P50 == nil || math.Abs(*s.P50-0.1) > 1e-9 || math.Abs(*s.P99-0.198) > 1e-9 || s.Labels["table"] != "t" {
		t.Errorf("histogram series %+v (p50 %v, p99 %v)", s, deref(s.P50), deref(s.P99))
	}
	if l := p.Series["consumer_lag"]; len(l) != 1 || l[0].Value != 7 || l[0].Labels["partition"] != "2" {
		t.Errorf("consumer_lag %+v", l)
	}
	if b := p.Series["dlq_s3_breaker_state"]; len(b) != 1 || b[0].Value != 2 {
		t.Errorf("breaker %+v", b)
	}
	if _, ok := p.Series["not_on_the_dashboard_total"]; ok || p.TimeMs != 1234 {
		t.Errorf("series %v at %d", p.Series, p.TimeMs)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

func TestPageAndAssetsServedFromTheBinary(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux, Options{Routes: func() []string { return []string{"GET /v1/search"} }, Metrics: prometheus.NewRegistry()})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for path, want := range map[string]string{"/": "<script src=\"/ui/app.js\">", "/ui/app.js": "/v1/dashboard", "/ui/app.css": "--accent"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s, body without %q", path, resp.Status, want)
		}
		// The SVG namespace is a name, not a request.
		if rest := strings.ReplaceAll(string(body), "http://www.w3.org/2000/svg", ""); strings.Contains(rest, "http://") || strings.Contains(rest, "https://") || strings.Contains(rest, "//cdn") {
			t.Errorf("GET %s refers to another site: the dashboard must work without the internet", path)
		}
	}
	resp, err := http.Get(srv.URL + "/v1/dashboard")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d Description
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil || !slices.Equal(d.Panels, []string{PanelSearch, PanelPipeline}) {
		t.Errorf("/v1/dashboard: %+v, %v", d, err)
	}
	if resp, _ := http.Get(srv.URL + "/nope"); resp.StatusCode != 404 {
		t.Errorf("GET /nope: %s; the page must not answer every path", resp.Status)
	}
}
