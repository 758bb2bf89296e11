package monitoring

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const dashboardDir = "../../deploy/grafana/dashboards"

// panel is the part of a Grafana panel the test reads; rows nest panels.
type panel struct {
	Type       string  `json:"type"`
	Title      string  `json:"title"`
	Datasource any     `json:"datasource"`
	Targets    []query `json:"targets"`
	Panels     []panel `json:"panels"`
}

type query struct {
	RefID string `json:"refId"`
	Expr  string `json:"expr"`
}

type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

// exported is every series name the services' scrape gives Prometheus
// (the names of stored, the series the alert test feeds promtool).
func exported(sc Scrape) map[string]bool {
	names := map[string]bool{}
	for _, s := range stored(sc) {
		names[s.Name] = true
	}
	return names
}

var (
	stringLit   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	braces      = regexp.MustCompile(`\{[^}]*\}`)
	brackets    = regexp.MustCompile(`\[[^\]]*\]`)
	grouping    = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	identifier  = regexp.MustCompile(`[A-Za-z_:][A-Za-z0-9_:]*`)
	notMetric   = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true, "by": true, "without": true, "group_left": true, "group_right": true, "on": true, "ignoring": true}
	grafanaVars = regexp.MustCompile(`\$(?:__rate_interval|__interval|__range)|\$\{?[A-Za-z_]+\}?`)
)

// metricNames returns the metric names a PromQL expression selects:
// identifiers outside strings, label matchers, ranges and grouping clauses
// that are not functions, keywords or numbers.
func metricNames(expr string) []string {
	s := stringLit.ReplaceAllString(expr, `""`)
	s = braces.ReplaceAllString(s, " ")
	s = brackets.ReplaceAllString(s, " ")
	s = grouping.ReplaceAllString(s, " ")
	var out []string
	for _, loc := range identifier.FindAllStringIndex(s, -1) {
		if loc[0] > 0 && strings.ContainsAny(s[loc[0]-1:loc[0]], "0123456789.$") {
			continue // inside a number (1e3) or a variable
		}
		name := s[loc[0]:loc[1]]
		if strings.HasPrefix(strings.TrimSpace(s[loc[1]:]), "(") || notMetric[strings.ToLower(name)] {
			continue
		}
		out = append(out, name)
	}
	return out
}

// TestDashboards reads every dashboard in deploy/grafana/dashboards and
// checks that each is provisionable (uid, title, panels whose queries use
// the datasource variable) and that every query names only series the
// services really export, taken from their scrape; and, with promtool,
// that every query parses.
func TestDashboards(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(dashboardDir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s (%v)", dashboardDir, err)
	}
	have := exported(scrapeServices(t))
	uids := map[string]string{}
	var exprs []string
	used := map[string]bool{}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if d.UID == "" || d.Title == "" {
			t.Errorf("%s: uid and title are required for provisioning", file)
		}
		if other, dup := uids[d.UID]; dup {
			t.Errorf("%s: uid %q also in %s", file, d.UID, other)
		}
		uids[d.UID] = file
		var walk func(ps []panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				walk(p.Panels)
				if p.Type == "row" {
					continue
				}
				where := filepath.Base(file) + ": panel " + p.Title
				if len(p.Targets) == 0 {
					t.Errorf("%s: no queries", where)
				}
				if b, _ := json.Marshal(p.Datasource); !strings.Contains(string(b), "${datasource}") {
					t.Errorf("%s: datasource %s, want the ${datasource} variable", where, b)
				}
				for _, q := range p.Targets {
					names := metricNames(q.Expr)
					if len(names) == 0 {
						t.Errorf("%s, query %s: no metric in %q", where, q.RefID, q.Expr)
					}
					for _, n := range names {
						used[n] = true
						if !have[n] {
							t.Errorf("%s, query %s: %s is not exported by any service (%q)", where, q.RefID, n, q.Expr)
						}
					}
					exprs = append(exprs, q.Expr)
				}
			}
		}
		walk(d.Panels)
	}
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("%d dashboards, %d queries, metrics used: %s", len(files), len(exprs), strings.Join(names, " "))

	t.Run("queries parse", func(t *testing.T) {
		bin := promtool(t)
		// Every query as a recording rule, Grafana's variables replaced.
		var rules []map[string]string
		for _, e := range exprs {
			e = grafanaVars.ReplaceAllStringFunc(e, func(v string) string {
				switch v {
				case "$__rate_interval", "$__interval", "$__range":
					return "5m"
				}
				return ".*"
			})
			rules = append(rules, map[string]string{"record": "dashboard:query", "expr": e})
		}
		b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rules}}})
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "dashboards.rules.yaml")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(bin, "check", "rules", p).CombinedOutput(); err != nil {
			t.Fatalf("a dashboard query does not parse: %v\n%s", err, out)
		}
	})
}

// TestMetricNames checks the extraction the dashboard test relies on.
func TestMetricNames(t *testing.T) {
	for expr, want := range map[string]string{
		`sum by (service, le) (rate(consumer_processing_latency_seconds_bucket{service=~"$service",le!="+Inf"}[$__rate_interval]))`: "consumer_processing_latency_seconds_bucket",
		`time() - max(analytics_s3_last_success_timestamp_seconds{service=~"a|b"})`:                                                 "analytics_s3_last_success_timestamp_seconds",
		`a_total / on (pod) group_left (node) b_info > 1e3 and bool c`:                                                              "a_total b_info c",
		`histogram_quantile(0.99, x_bucket) offset 5m`:                                                                              "x_bucket",
	} {
		if got := strings.Join(metricNames(expr), " "); got != want {
			t.Errorf("metricNames(%q) = %q, want %q", expr, got, want)
		}
	}
}
