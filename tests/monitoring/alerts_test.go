package monitoring

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"

	"github.com/cdcflow/cdcflow/testkit/testenv"
)

const ruleManifest = "../../deploy/k8s/base/prometheusrule.yaml"

// Labels is a set of labels.
type Labels map[string]string

// merge returns the union of sets; later ones win.
func merge(sets ...Labels) Labels {
	out := Labels{}
	for _, s := range sets {
		for k, v := range s {
			out[k] = v
		}
	}
	return out
}

// Series is one time series as Prometheus stores it after the scrape.
type Series struct {
	Name   string
	Labels Labels
}

func (s Series) String() string {
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + strconv.Quote(s.Labels[k])
	}
	return s.Name + "{" + strings.Join(parts, ",") + "}"
}

// target is the labels Prometheus gives the scrape target of svc behind
// deploy/k8s/base/servicemonitor.yaml: service is the Kubernetes Service
// (relabelled from __meta_kubernetes_service_name), job the Service name
// too (the Prometheus Operator's default), namespace, pod, container,
// endpoint (the port name) and instance from the endpoint.
func target(svc string) Labels {
	i := 0
	for n, s := range services {
		if s == svc {
			i = n
		}
	}
	return Labels{"service": svc, "job": svc, "namespace": "cdcflow", "pod": pod(svc), "container": svc,
		"endpoint": "metrics", "instance": fmt.Sprintf("10.42.0.%d:8080", 11+i)}
}

func pod(svc string) string { return svc + "-5d8f7c9b6d-x7k2p" }

// relabel applies the scrape of a target: with honor_labels false, a
// scraped label that a target label also names is kept as exported_<name>
// (so the services' own "service" label becomes exported_service), and the
// target labels are added.
func relabel(scraped, tgt Labels) Labels {
	out := Labels{}
	for k, v := range scraped {
		if _, clash := tgt[k]; clash {
			k = "exported_" + k
		}
		out[k] = v
	}
	return merge(out, tgt)
}

// stored turns the scrape of every service into the series Prometheus
// stores: histograms become _bucket (with le), _sum and _count, summaries
// their quantiles, _sum and _count; every target has its up series. The Go
// runtime's go_* families are left out (no rule or panel uses them).
func stored(sc Scrape) []Series {
	var out []Series
	for _, svc := range services {
		tgt := target(svc)
		out = append(out, Series{"up", tgt})
		for name, f := range sc[svc] {
			if strings.HasPrefix(name, "go_") {
				continue
			}
			for _, m := range f.GetMetric() {
				ls := Labels{}
				for _, l := range m.GetLabel() {
					ls[l.GetName()] = l.GetValue()
				}
				add := func(n string, extra Labels) {
					out = append(out, Series{n, relabel(merge(ls, extra), tgt)})
				}
				switch f.GetType() {
				case dto.MetricType_HISTOGRAM:
					for _, b := range m.GetHistogram().GetBucket() {
						add(name+"_bucket", Labels{"le": strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)})
					}
					add(name+"_bucket", Labels{"le": "+Inf"})
					add(name+"_sum", nil)
					add(name+"_count", nil)
				case dto.MetricType_SUMMARY:
					for _, q := range m.GetSummary().GetQuantile() {
						add(name, Labels{"quantile": strconv.FormatFloat(q.GetQuantile(), 'g', -1, 64)})
					}
					add(name+"_sum", nil)
					add(name+"_count", nil)
				default:
					add(name, nil)
				}
			}
		}
	}
	return out
}

// An override gives the series it matches other values than the baseline
// (0, and 1 for up). Series the scrape lacks (kube-state-metrics) are added.
type override struct {
	match  func(Series) bool
	values string
	add    *Series // a series of another exporter, added to the input
}

// is matches the series named name whose labels include want.
func is(name string, want Labels) func(Series) bool {
	return func(s Series) bool {
		if s.Name != name {
			return false
		}
		for k, v := range want {
			if s.Labels[k] != v {
				return false
			}
		}
		return true
	}
}

func set(name string, want Labels, values string) override {
	return override{match: is(name, want), values: values}
}

// scenario is one promtool test: the stored series with overrides, and the
// alerts expected at evalTime (none: the alert must not fire).
type scenario struct {
	name     string
	set      []override
	evalTime string
	alert    string
	want     []Labels // each alert's labels, alertname aside
}

const samples = 70 // one a minute: the input covers 70 minutes

func scenarios() []scenario {
	inv, an, se := "inventory-service", "analytics-service", "search-indexer"
	products, orders, items := "dbserver1.public.products", "dbserver1.public.orders", "dbserver1.public.order_items"
	warning, critical := Labels{"severity": "warning"}, Labels{"severity": "critical"}
	ns := Labels{"namespace": "cdcflow"}
	lag := func(svc, group, topic, partition string) Labels {
		return Labels{"exported_service": svc, "consumer_group": group, "topic": topic, "partition": partition}
	}
	ksm := Labels{"namespace": "cdcflow", "job": "kube-state-metrics", "instance": "10.42.3.7:8080", "uid": "0b7e4c1e-5d1f-4c3a-9a43-6f0e2f5d9b1a"}
	ready := func(svc, cond string) Labels { return merge(ksm, Labels{"pod": pod(svc), "condition": cond}) }
	restarts := merge(ksm, Labels{"pod": pod(an), "container": an})
	return []scenario{
		// The Python services' rules.
		{name: "lag above 1000 fires", alert: "ConsumerLagHigh", evalTime: "10m",
			set:  []override{set("consumer_lag", lag(inv, inv+"-group", products, "0"), fmt.Sprintf("1500x%d", samples))},
			want: []Labels{merge(lag(inv, inv+"-group", products, "0"), target(inv), warning)}},
		{name: "lag below 1000 is quiet", alert: "ConsumerLagHigh", evalTime: "10m",
			set: []override{set("consumer_lag", lag(inv, inv+"-group", products, "0"), fmt.Sprintf("999x%d", samples))}},
		{name: "errors above 0.1/s fire", alert: "ConsumerErrorRateHigh", evalTime: "10m",
			set: []override{
				set("consumer_errors_total", Labels{"exported_service": an, "error_type": "decode"}, fmt.Sprintf("0+15x%d", samples)),   // 0.25/s
				set("consumer_errors_total", Labels{"exported_service": inv, "error_type": "dynamodb"}, fmt.Sprintf("0+9x%d", samples)), // 0.15/s
			},
			want: []Labels{
				merge(Labels{"exported_service": an, "error_type": "decode"}, target(an), warning),
				merge(Labels{"exported_service": inv, "error_type": "dynamodb"}, target(inv), warning),
			}},
		{name: "errors below 0.1/s are quiet", alert: "ConsumerErrorRateHigh", evalTime: "10m",
			set: []override{set("consumer_errors_total", Labels{"exported_service": an, "error_type": "decode"}, fmt.Sprintf("0+5x%d", samples))}}, // 0.083/s

		// Lag and latency.
		{name: "lag above 50000", alert: "CDCConsumerLagCritical", evalTime: "15m",
			set:  []override{set("consumer_lag", lag(se, se+"-group", products, "1"), fmt.Sprintf("60000x%d", samples))},
			want: []Labels{merge(ns, Labels{"service": se, "consumer_group": se + "-group", "topic": products, "partition": "1"}, critical)}},
		{name: "lag that does not move", alert: "CDCConsumerLagNotShrinking", evalTime: "40m",
			set:  []override{set("consumer_lag", lag(an, an+"-group", orders, "2"), fmt.Sprintf("40x%d", samples))},
			want: []Labels{merge(ns, Labels{"service": an, "consumer_group": an + "-group"}, warning)}},
		{name: "lag that shrinks is quiet", alert: "CDCConsumerLagNotShrinking", evalTime: "40m",
			set: []override{set("consumer_lag", lag(an, an+"-group", orders, "2"), fmt.Sprintf("200-2x%d", samples))}},
		{name: "p99 source latency above 60 s", alert: "CDCSourceLatencyHigh", evalTime: "15m",
			set: []override{{values: fmt.Sprintf("0+100x%d", samples), match: func(s Series) bool {
				le, err := strconv.ParseFloat(s.Labels["le"], 64)
				return is("consumer_processing_latency_seconds_bucket", Labels{"exported_service": inv, "topic": items})(s) && err == nil && le >= 120
			}}},
			want: []Labels{merge(ns, Labels{"service": inv}, warning)}},

		// Dead letters.
		{name: "a dead letter", alert: "CDCDeadLetters", evalTime: "5m",
			set:  []override{set("cdc_dead_letters_total", Labels{"exported_service": inv, "topic": items}, fmt.Sprintf("0 0 0 1x%d", samples-3))},
			want: []Labels{merge(ns, Labels{"service": inv, "topic": items}, warning)}},
		{name: "dead letters above 1/s", alert: "CDCDeadLetterRateHigh", evalTime: "10m",
			set:  []override{set("cdc_dead_letters_total", Labels{"exported_service": an, "topic": orders}, fmt.Sprintf("0+120x%d", samples))},
			want: []Labels{merge(ns, Labels{"service": an}, critical)}},
		{name: "dead letters not archived", alert: "CDCDeadLetterArchiveBehind", evalTime: "35m",
			set:  []override{set("consumer_lag", lag(se, se+"-group-dlq-s3", se+"-dlq", "0"), fmt.Sprintf("3x%d", samples))},
			want: []Labels{merge(ns, Labels{"service": se, "consumer_group": se + "-group-dlq-s3"}, warning)}},

		// Breakers.
		{name: "dynamodb breaker open", alert: "CDCDynamoDBBreakerOpen", evalTime: "5m",
			set:  []override{set("dynamodb_writer_breaker_state", Labels{"sink": inv, "table": "inventory-realtime"}, fmt.Sprintf("2x%d", samples))},
			want: []Labels{merge(ns, Labels{"service": inv, "table": "inventory-realtime"}, critical)}},
		{name: "dynamodb breaker half-open is quiet", alert: "CDCDynamoDBBreakerOpen", evalTime: "5m",
			set: []override{set("dynamodb_writer_breaker_state", Labels{"sink": inv, "table": "inventory-realtime"}, fmt.Sprintf("1x%d", samples))}},
		{name: "report S3 breaker open", alert: "CDCS3ReportBreakerOpen", evalTime: "5m",
			set:  []override{set("analytics_s3_breaker_state", Labels{"service": an}, fmt.Sprintf("2x%d", samples))},
			want: []Labels{merge(ns, Labels{"service": an}, critical)}},
		{name: "dead-letter S3 breaker open", alert: "CDCDeadLetterS3BreakerOpen", evalTime: "5m",
			set:  []override{set("dlq_s3_breaker_state", Labels{"exported_service": se}, fmt.Sprintf("2x%d", samples))},
			want: []Labels{merge(ns, Labels{"service": se}, warning)}},

		// Mirrors.
		{name: "mirror behind the source", alert: "CDCMirrorLagHigh", evalTime: "10m",
			set:  []override{set("mirror_lag_seconds", Labels{"service": se, "table": se + "-group-table"}, fmt.Sprintf("90x%d", samples))},
			want: []Labels{merge(ns, Labels{"service": se, "table": se + "-group-table"}, warning)}},
		{name: "mirror group behind the table", alert: "CDCMirrorGroupLagHigh", evalTime: "15m",
			set:  []override{set("consumer_lag", lag(inv, inv+"-group-dynamodb", inv+"-group-table", "0"), fmt.Sprintf("20000x%d", samples))},
			want: []Labels{merge(ns, Labels{"service": inv, "consumer_group": inv + "-group-dynamodb"}, warning)}},
		{name: "mirror writes nothing while keys wait", alert: "CDCMirrorStalled", evalTime: "15m",
			set:  []override{set("mirror_pending_keys", Labels{"service": inv, "table": inv + "-group-table"}, fmt.Sprintf("5x%d", samples))},
			want: []Labels{merge(ns, Labels{"service": inv, "table": inv + "-group-table"}, critical)}},

		// Pods.
		{name: "target down", alert: "CDCTargetDown", evalTime: "10m",
			set:  []override{set("up", Labels{"service": se}, fmt.Sprintf("0x%d", samples))},
			want: []Labels{merge(target(se), critical)}},
		{name: "pod not ready", alert: "CDCPodNotReady", evalTime: "15m",
			set: []override{
				{values: fmt.Sprintf("0x%d", samples), add: &Series{"kube_pod_status_ready", ready(inv, "true")}},
				{values: fmt.Sprintf("1x%d", samples), add: &Series{"kube_pod_status_ready", ready(inv, "false")}},
				{values: fmt.Sprintf("1x%d", samples), add: &Series{"kube_pod_status_ready", ready(an, "true")}},
			},
			want: []Labels{merge(ns, Labels{"pod": pod(inv)}, warning)}},
		{name: "restarting", alert: "CDCPodRestarting", evalTime: "30m",
			set:  []override{{values: fmt.Sprintf("0+1x%d", samples), add: &Series{"kube_pod_container_status_restarts_total", restarts}}},
			want: []Labels{merge(restarts, warning)}},
		{name: "one restart is quiet", alert: "CDCPodRestarting", evalTime: "30m",
			set: []override{{values: fmt.Sprintf("0x20 1x%d", samples-21), add: &Series{"kube_pod_container_status_restarts_total", restarts}}}},
	}
}

// promtool's unit-test file (promtool test rules).
type promtoolFile struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval string         `yaml:"evaluation_interval"`
	Tests              []promtoolTest `yaml:"tests"`
}

type promtoolTest struct {
	Name         string         `yaml:"name"`
	Interval     string         `yaml:"interval"`
	InputSeries  []inputSeries  `yaml:"input_series"`
	AlertRuleTst []alertRuleTst `yaml:"alert_rule_test"`
}

type inputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertRuleTst struct {
	EvalTime  string     `yaml:"eval_time"`
	Alertname string     `yaml:"alertname"`
	ExpAlerts []expAlert `yaml:"exp_alerts"`
}

type expAlert struct {
	ExpLabels Labels `yaml:"exp_labels"`
}

// rules reads the PrometheusRule manifest and returns its rule groups as
// a Prometheus rule file, with and without the annotations (promtool test
// rules compares annotations too; their templates are checked by promtool
// check rules on the full file).
func rules(t *testing.T) (full, bare []byte) {
	t.Helper()
	raw, err := os.ReadFile(ruleManifest)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Spec       struct {
			Groups []map[string]any `yaml:"groups"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", ruleManifest, err)
	}
	if m.APIVersion != "monitoring.coreos.com/v1" || m.Kind != "PrometheusRule" || len(m.Spec.Groups) == 0 {
		t.Fatalf("%s: want a monitoring.coreos.com/v1 PrometheusRule with groups, got %s %s with %d groups", ruleManifest, m.APIVersion, m.Kind, len(m.Spec.Groups))
	}
	if full, err = yaml.Marshal(map[string]any{"groups": m.Spec.Groups}); err != nil {
		t.Fatal(err)
	}
	for _, g := range m.Spec.Groups {
		rs, _ := g["rules"].([]any)
		for _, r := range rs {
			if rm, ok := r.(map[string]any); ok {
				delete(rm, "annotations")
			}
		}
	}
	if bare, err = yaml.Marshal(map[string]any{"groups": m.Spec.Groups}); err != nil {
		t.Fatal(err)
	}
	return full, bare
}

// promtool returns the path of promtool, skipping the test without it
// (failing under CI, where .ci/run installs it).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if testenv.InCI() {
			t.Fatalf("promtool is required under CI (Debian package prometheus): %v", err)
		}
		t.Skipf("promtool is not on PATH (%v); set CI=true to make this a failure", err)
	}
	return p
}

// TestAlertRules checks the rules with promtool and unit-tests every alert
// with promtool on the series the three services really export, relabelled
// as the ServiceMonitor's scrape stores them: each alert fires on the
// series it is about, with the labels an operator sees, and stays quiet
// below its threshold.
func TestAlertRules(t *testing.T) {
	bin := promtool(t)
	full, bare := rules(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fullPath := write("prometheusrule.rules.yaml", full)
	if out, err := exec.Command(bin, "check", "rules", fullPath).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", ruleManifest, err, out)
	}
	write("rules.yaml", bare)

	base := stored(scrapeServices(t))
	f := promtoolFile{RuleFiles: []string{"rules.yaml"}, EvaluationInterval: "1m"}
	for _, sc := range scenarios() {
		test := promtoolTest{Name: sc.name, Interval: "1m"}
		matched := make([]bool, len(sc.set))
		for _, s := range base {
			values := fmt.Sprintf("0x%d", samples)
			if s.Name == "up" {
				values = fmt.Sprintf("1x%d", samples)
			}
			for i, o := range sc.set {
				if o.match != nil && o.match(s) {
					values, matched[i] = o.values, true
				}
			}
			test.InputSeries = append(test.InputSeries, inputSeries{s.String(), values})
		}
		for i, o := range sc.set {
			if o.add != nil {
				test.InputSeries = append(test.InputSeries, inputSeries{o.add.String(), o.values})
			} else if !matched[i] {
				// promtool will say which alert is missing; this says why.
				t.Errorf("%s: no scraped series matches override %d: a metric or label was renamed?", sc.name, i)
			}
		}
		art := alertRuleTst{EvalTime: sc.evalTime, Alertname: sc.alert, ExpAlerts: []expAlert{}}
		for _, w := range sc.want {
			art.ExpAlerts = append(art.ExpAlerts, expAlert{w})
		}
		test.AlertRuleTst = []alertRuleTst{art}
		f.Tests = append(f.Tests, test)
	}
	b, err := yaml.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	testPath := write("rules_test.yaml", b)
	out, err := exec.Command(bin, "test", "rules", testPath).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules (%d scenarios, %d input series each; file %s): %v\n%s", len(f.Tests), len(base), testPath, err, out)
	}
	t.Logf("promtool: %d scenarios passed on %d scraped series", len(f.Tests), len(base))
}
