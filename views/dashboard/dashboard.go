// Package dashboard is the web dashboard every service serves at / of its
// HTTP server (cdc-local's shows all three services): stock, sales, search
// and pipeline health, updated live by polling the JSON endpoints it links
// to. Its assets are embedded in the binary (no CDN, nothing fetched from
// the internet); its charts are plain SVG drawn by a few lines of script, so
// there is no charting library to vendor and keep patched.
//
// Routes: GET / (the page), GET /ui/{file} (its script and style sheet),
// GET /v1/dashboard (which panels this server has and the JSON endpoints
// they read), GET /v1/pipeline (the pipeline's metrics as JSON).
package dashboard

import (
	"embed"
	"encoding/json"
	"io/fs"
	"math"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

//go:embed ui
var assets embed.FS

// Panels of the page, shown when the server has their routes.
const (
	PanelInventory = "inventory"
	PanelAnalytics = "analytics"
	PanelSearch    = "search"
	PanelPipeline  = "pipeline" // always
)

// panelRoutes: a panel is shown when the server has its route.
var panelRoutes = []struct{ panel, route string }{
	{PanelInventory, "GET /v1/inventory/{product_id}"},
	{PanelAnalytics, "GET /v1/reports/{name}"},
	{PanelSearch, "GET /v1/search"},
}

// Options configures the dashboard.
type Options struct {
	// Routes lists the patterns the server has registered (its query
	// routes); the dashboard shows the panels whose routes are there.
	Routes func() []string
	// Metrics is the service's registry; /v1/pipeline reads it.
	Metrics prometheus.Gatherer
	// Now is the clock (tests replace it); default time.Now.
	Now func() time.Time
}

// Register adds the dashboard's routes to mux.
func Register(mux *http.ServeMux, opts Options) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	ui, _ := fs.Sub(assets, "ui") // the embedded directory exists
	files := http.FileServerFS(ui)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, ui, "index.html")
	})
	mux.Handle("GET /ui/", http.StripPrefix("/ui/", files))
	mux.HandleFunc("GET /v1/dashboard", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, Describe(opts.Routes()))
	})
	mux.HandleFunc("GET /v1/pipeline", func(w http.ResponseWriter, _ *http.Request) {
		p, err := ReadPipeline(opts.Metrics, opts.Now())
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "gather metrics: " + err.Error()})
			return
		}
		writeJSON(w, p)
	})
}

// Description answers GET /v1/dashboard.
type Description struct {
	Panels      []string `json:"panels"`
	DeadLetters []string `json:"dead_letters"` // the services' GET /v1/dead-letters/{service} routes
	Alerts      bool     `json:"alerts"`       // GET /v1/alerts/low-stock is there
	Links       []string `json:"links"`        // every GET route without a path parameter
}

// Describe says which panels a server with routes shows.
func Describe(routes []string) Description {
	has := map[string]bool{}
	for _, r := range routes {
		has[r] = true
	}
	d := Description{Panels: []string{}, DeadLetters: []string{}, Links: []string{}}
	for _, p := range panelRoutes {
		if has[p.route] {
			d.Panels = append(d.Panels, p.panel)
		}
	}
	d.Panels = append(d.Panels, PanelPipeline)
	d.Alerts = has["GET /v1/alerts/low-stock"]
	for _, r := range routes {
		path, ok := strings.CutPrefix(r, "GET ")
		if !ok || strings.Contains(path, "{") {
			continue
		}
		if strings.HasPrefix(path, "/v1/dead-letters/") {
			d.DeadLetters = append(d.DeadLetters, path)
		}
		d.Links = append(d.Links, path)
	}
	sort.Strings(d.DeadLetters)
	sort.Strings(d.Links)
	return d
}

// Pipeline answers GET /v1/pipeline: the series of the pipeline's metric
// families, each with its labels; histograms with their count and their
// 50th and 99th percentiles estimated from the buckets as Prometheus'
// histogram_quantile does.
type Pipeline struct {
	TimeMs int64               `json:"time_ms"`
	Series map[string][]Series `json:"series"` // by metric name; absent when the service has none
}

// Series is one series of a family.
type Series struct {
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`          // counter or gauge; a histogram's sum
	Count  uint64            `json:"count,omitzero"` // histograms
	P50    *float64          `json:"p50,omitempty"`  // histograms with observations
	P99    *float64          `json:"p99,omitempty"`
}

// PipelineFamilies are the families GET /v1/pipeline reports, besides every
// family whose name ends in _breaker_state.
var PipelineFamilies = []string{
	"cdc_messages_total",                          // records per service, topic, op, outcome
	"cdc_dead_letters_total",                      // dead letters per service and source topic
	"cdc_source_lag_seconds",                      // commit → processing, latest per topic
	"consumer_lag",                                // records behind, per group, topic and partition
	"consumer_processing_latency_seconds",         // commit → processing, histogram
	"mirror_source_to_sink_seconds",               // commit → DynamoDB, histogram
	"mirror_lag_seconds",                          // oldest change not yet in DynamoDB
	"inventory_low_stock_alerts_total",            // alerts emitted
	"analytics_s3_last_success_timestamp_seconds", // last flush that wrote everything
	"analytics_s3_objects_written_total",          // objects by kind
	"analytics_s3_flushes_total",                  // flushes by result
}

// ReadPipeline gathers g's pipeline families at now.
func ReadPipeline(g prometheus.Gatherer, now time.Time) (Pipeline, error) {
	fams, err := g.Gather()
	p := Pipeline{TimeMs: now.UnixMilli(), Series: map[string][]Series{}}
	if err != nil && len(fams) == 0 {
		return p, err
	}
	for _, f := range fams {
		name := f.GetName()
		if !slices.Contains(PipelineFamilies, name) && !strings.HasSuffix(name, "_breaker_state") {
			continue
		}
		for _, m := range f.GetMetric() {
			p.Series[name] = append(p.Series[name], series(m))
		}
	}
	return p, nil
}

func series(m *dto.Metric) Series {
	s := Series{Labels: map[string]string{}}
	for _, l := range m.GetLabel() {
		s.Labels[l.GetName()] = l.GetValue()
	}
	switch {
	case m.Counter != nil:
		s.Value = m.GetCounter().GetValue()
	case m.Gauge != nil:
		s.Value = m.GetGauge().GetValue()
	case m.Histogram != nil:
		h := m.GetHistogram()
		s.Value, s.Count = h.GetSampleSum(), h.GetSampleCount()
		if s.Count > 0 {
			p50, p99 := quantile(0.5, h), quantile(0.99, h)
			s.P50, s.P99 = &p50, &p99
		}
	case m.Untyped != nil:
		s.Value = m.GetUntyped().GetValue()
	}
	return s
}

// quantile estimates the q-quantile of h by linear interpolation within its
// bucket, like PromQL's histogram_quantile: the upper bound of the highest
// finite bucket when the rank falls into +Inf.
func quantile(q float64, h *dto.Histogram) float64 {
	count := float64(h.GetSampleCount())
	rank := q * count
	lower, below := 0.0, 0.0
	for _, b := range h.GetBucket() {
		upper, cum := b.GetUpperBound(), float64(b.GetCumulativeCount())
		if math.IsInf(upper, 1) {
			break
		}
		if cum >= rank {
			if cum == below {
				return upper
			}
			return lower + (upper-lower)*(rank-below)/(cum-below)
		}
		lower, below = upper, cum
	}
	return lower
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
