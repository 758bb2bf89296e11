package registry

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/sinks/breaker"
	fake "github.com/cdcflow/cdcflow/testkit/registry"
)

const byID = "GET /schemas/ids/{id}"

// parsed is what the tests' Parse returns: the schema's text, checked to
// be a JSON object with a "type".
type parsed struct{ text string }

var parses atomic.Int64

func parse(text string) (*parsed, error) {
	parses.Add(1)
	var v struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal([]byte(text), &v); err != nil || v.Type == "" {
		return nil, errors.New("not an Avro schema")
	}
	return &parsed{text: text}, nil
}

const (
	valueSchema = `{"type":"record","name":"Envelope","namespace":"dbserver1.public.products","fields":[{"name":"op","type":"string"}]}`
	keySchema   = `{"type":"record","name":"Key","namespace":"dbserver1.public.products","fields":[{"name":"id","type":"int"}]}`
)

func newClient(t *testing.T, srv *fake.Server, mod ...func(*Options[*parsed])) (*Client[*parsed], *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	o := Options[*parsed]{URLs: []string{srv.URL()}, Parse: parse, Service: "svc", Registerer: reg, Timeout: 2 * time.Second, NotFoundDelay: 20 * time.Millisecond}
	for _, f := range mod {
		f(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c, reg
}

func register(t *testing.T, srv *fake.Server, subject, text string) int32 {
	t.Helper()
	id, err := srv.Register(subject, text)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func class(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Class
	}
	return "<not *Error>"
}

// TestOneRequestPerID: every id is fetched once, then served from the cache.
func TestOneRequestPerID(t *testing.T) {
	srv := fake.New(t, fake.Options{})
	v := register(t, srv, "dbserver1.public.products-value", valueSchema)
	k := register(t, srv, "dbserver1.public.products-key", keySchema)
	c, reg := newClient(t, srv)
	for range 50 {
		for _, id := range []int32{v, k} {
			s, err := c.Schema(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if want := map[int32]string{v: valueSchema, k: keySchema}[id]; s.text != want {
				t.Fatalf("id %d: %s, want %s", id, s.text, want)
			}
		}
	}
	if n := srv.Requests(byID); n != 2 {
		t.Fatalf("%d requests for 2 ids, want 2", n)
	}
	if c.Cached() != 2 || gauge(t, reg, "schema_registry_cached_schemas") != 2 || counter(t, reg, "schema_registry_requests_total") != 2 {
		t.Fatalf("cached %d, metrics %v %v", c.Cached(), gauge(t, reg, "schema_registry_cached_schemas"), counter(t, reg, "schema_registry_requests_total"))
	}
	if ok, detail := c.Health(); !ok || !strings.Contains(detail, "2 schemas cached") {
		t.Fatalf("health %v %s", ok, detail)
	}
}

// TestConcurrentLookupsShareOneRequest: lookups of one id that overlap wait
// for one request; a waiter that gives up does not fail the others.
func TestConcurrentLookupsShareOneRequest(t *testing.T) {
	srv := fake.New(t, fake.Options{})
	id := register(t, srv, "s-value", valueSchema)
	c, reg := newClient(t, srv)
	srv.Hang(true)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Schema(context.Background(), id)
			errs <- err
		}()
	}
	// One more that gives up while the request hangs.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Schema(ctx, id); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a lookup whose context ends: %v", err)
	}
	waitFor(t, func() bool { return srv.Requests(byID) >= 1 })
	time.Sleep(50 * time.Millisecond) // any second request would be sent by now
	srv.Hang(false)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Requests(byID); n != 1 {
		t.Fatalf("%d requests for 21 overlapping lookups of one id, want 1", n)
	}
	if got := sum(t, reg, "schema_registry_lookups_total", "source", "shared"); got != 20 {
		t.Fatalf("shared lookups %v, want 20", got)
	}
}

// TestNotFoundIsPermanent: the registry's 40403 (asked twice) is permanent,
// with the reason the dead letter carries, and is not asked again for
// NotFoundTTL.
func TestNotFoundIsPermanent(t *testing.T) {
	srv := fake.New(t, fake.Options{})
	register(t, srv, "s-value", valueSchema)
	c, reg := newClient(t, srv)
	_, err := c.Schema(context.Background(), 42)
	if !IsPermanent(err) || class(err) != ClassNotFound {
		t.Fatalf("unknown id: %v (class %s), want permanent not_found", err, class(err))
	}
	if err.Error() != "schema id 42 not found in the registry" {
		t.Fatalf("reason %q", err.Error())
	}
	if n := srv.Requests(byID); n != 2 {
		t.Fatalf("%d requests, want 2 (the 40403 confirmed once)", n)
	}
	if _, err := c.Schema(context.Background(), 42); !IsPermanent(err) || srv.Requests(byID) != 2 {
		t.Fatalf("second lookup: %v after %d requests", err, srv.Requests(byID))
	}
	if ok, _ := c.Health(); !ok {
		t.Fatal("a 40403 is an answer: the registry is healthy")
	}
	if got := counter(t, reg, "consumer_errors_total"); got != 0 {
		t.Fatalf("consumer_errors_total %v: an unknown id is the record's failure, counted by the input edge", got)
	}
}

// TestTransientFailures: no answer, 5xx, 429, a timeout, auth failures and
// a 404 that is not the registry's are transient: the record must wait.
func TestTransientFailures(t *testing.T) {
	srv := fake.New(t, fake.Options{})
	id := register(t, srv, "s-value", valueSchema)
	for _, tc := range []struct {
		name  string
		setup func()
		class string
	}{
		{"503", func() { srv.Fail(503) }, ClassServer},
		{"500", func() { srv.Fail(500) }, ClassServer},
		{"429", func() { srv.Fail(429) }, ClassThrottle},
		{"401", func() { srv.Fail(401) }, ClassAuth},
		{"hang", func() { srv.Hang(true) }, ClassTimeout},
		{"stopped", srv.Stop, ClassConnection},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, reg := newClient(t, srv, func(o *Options[*parsed]) { o.Timeout = 300 * time.Millisecond })
			tc.setup()
			_, err := c.Schema(context.Background(), id)
			srv.Fail(0)
			srv.Hang(false)
			if err := srv.Resume(); err != nil {
				t.Fatal(err)
			}
			if err == nil || IsPermanent(err) || class(err) != tc.class {
				t.Fatalf("err %v, class %s: want transient %s", err, class(err), tc.class)
			}
			if ok, detail := c.Health(); ok || !strings.Contains(detail, "failing since") {
				t.Fatalf("health during the failure: %v %s", ok, detail)
			}
			if got := counter(t, reg, "consumer_errors_total"); got != 1 {
				t.Fatalf("consumer_errors_total %v, want 1", got)
			}
			if _, err := c.Schema(context.Background(), id); err != nil {
				t.Fatalf("after recovery: %v", err)
			}
			if ok, detail := c.Health(); !ok {
				t.Fatalf("health after recovery: %s", detail)
			}
		})
	}
	// A 404 from something that is not a registry (a wrong URL path, a
	// proxy) says nothing about the id.
	plain := httptest.NewServer(http.NotFoundHandler())
	defer plain.Close()
	c, err := New(Options[*parsed]{URLs: []string{plain.URL}, Parse: parse, NotFoundDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Schema(context.Background(), id); err == nil || IsPermanent(err) || class(err) != ClassClient {
		t.Fatalf("plain 404: %v (class %s), want transient client", err, class(err))
	}
}

// TestUnusableSchemaIsPermanent: a schema that is not Avro or does not
// parse can never be used; it is asked for once.
func TestUnusableSchemaIsPermanent(t *testing.T) {
	srv := fake.New(t, fake.Options{})
	bad := register(t, srv, "s-value", `{"no":"type"}`)
	resp, err := http.Post(srv.URL()+"/subjects/p-value/versions", fake.ContentType,
		strings.NewReader(`{"schema":"syntax = \"proto3\"; message M {}","schemaType":"PROTOBUF"}`))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct{ ID int32 }
	json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	c, _ := newClient(t, srv)
	for range 3 {
		if _, err := c.Schema(context.Background(), bad); !IsPermanent(err) || class(err) != ClassInvalidSchema || !strings.Contains(err.Error(), "cannot read") {
			t.Fatalf("unparsable: %v", err)
		}
		if _, err := c.Schema(context.Background(), reg.ID); !IsPermanent(err) || !strings.Contains(err.Error(), "PROTOBUF schema, not Avro") {
			t.Fatalf("protobuf: %v", err)
		}
	}
	if n := srv.Requests(byID); n != 2 {
		t.Fatalf("%d requests, want 2", n)
	}
}

// TestBasicAuth: credentials are sent; without them the registry's 401 is
// transient (an operator fixes the secret; nothing is dead-lettered).
func TestBasicAuth(t *testing.T) {
	srv := fake.New(t, fake.Options{Username: "svc", Password: "pa:ss"})
	id := register(t, srv, "s-value", valueSchema)
	c, _ := newClient(t, srv)
	if _, err := c.Schema(context.Background(), id); class(err) != ClassAuth || IsPermanent(err) || !strings.Contains(err.Error(), "Unauthorized") {
		t.Fatalf("without credentials: %v", err)
	}
	c, _ = newClient(t, srv, func(o *Options[*parsed]) { o.Username, o.Password = "svc", "pa:ss" })
	if _, err := c.Schema(context.Background(), id); err != nil {
		t.Fatalf("with credentials: %v", err)
	}
}

// TestTLS: an https registry is trusted through CAFile; an unreadable CA
// file fails New naming SCHEMA_REGISTRY_CA_FILE.
func TestTLS(t *testing.T) {
	srv := fake.New(t, fake.Options{})
	id := register(t, srv, "s-value", valueSchema)
	ts := httptest.NewUnstartedServer(srv.Handler())
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake the test makes fail
	ts.StartTLS()
	defer ts.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Options[*parsed]{URLs: []string{ts.URL}, Parse: parse, CAFile: ca})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Schema(context.Background(), id); err != nil {
		t.Fatalf("with the CA: %v", err)
	}
	c, _ = New(Options[*parsed]{URLs: []string{ts.URL}, Parse: parse})
	if _, err := c.Schema(context.Background(), id); err == nil || IsPermanent(err) {
		t.Fatalf("without the CA: %v, want a transient error", err)
	}
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	os.WriteFile(notPEM, []byte("nothing"), 0o600)
	for _, f := range []string{notPEM, filepath.Join(t.TempDir(), "missing.pem")} {
		if _, err := New(Options[*parsed]{URLs: []string{ts.URL}, Parse: parse, CAFile: f}); err == nil || !strings.Contains(err.Error(), "SCHEMA_REGISTRY_CA_FILE") {
			t.Fatalf("CA file %s: %v", f, err)
		}
	}
}

// TestURLsInOrder: a dead first URL is skipped for the next one.
func TestURLsInOrder(t *testing.T) {
	srv := fake.New(t, fake.Options{})
	id := register(t, srv, "s-value", valueSchema)
	dead := fake.New(t, fake.Options{})
	dead.Stop()
	c, _ := newClient(t, srv, func(o *Options[*parsed]) { o.URLs = []string{dead.URL(), srv.URL()} })
	if _, err := c.Schema(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

// TestBreakerDuringOutage: failures open the breaker, which then rejects
// lookups without sending; after the cooldown one probe finds the registry
// back and the lookup succeeds.
func TestBreakerDuringOutage(t *testing.T) {
	srv := fake.New(t, fake.Options{})
	id := register(t, srv, "s-value", valueSchema)
	c, reg := newClient(t, srv, func(o *Options[*parsed]) { o.BreakerThreshold = 2; o.BreakerCooldown = 300 * time.Millisecond })
	srv.Fail(503)
	for range 2 {
		if _, err := c.Schema(context.Background(), id); class(err) != ClassServer {
			t.Fatalf("during the outage: %v", err)
		}
	}
	if st := c.Breaker().State(); st != breaker.Open || gauge(t, reg, "schema_registry_breaker_state") != 2 {
		t.Fatalf("breaker %s after 2 failures, want open", st)
	}
	sent := srv.Requests(byID)
	if _, err := c.Schema(context.Background(), id); class(err) != ClassBreakerOpen || IsPermanent(err) {
		t.Fatalf("breaker open: %v", err)
	}
	if srv.Requests(byID) != sent {
		t.Fatal("a request was sent while the breaker was open")
	}
	if ok, detail := c.Health(); ok || !strings.Contains(detail, "open") {
		t.Fatalf("health: %v %s", ok, detail)
	}
	srv.Fail(0)
	time.Sleep(350 * time.Millisecond)
	if _, err := c.Schema(context.Background(), id); err != nil {
		t.Fatalf("after the cooldown: %v", err)
	}
	if st := c.Breaker().State(); st != breaker.Closed {
		t.Fatalf("breaker %s after a successful probe", st)
	}
	if ok, detail := c.Health(); !ok {
		t.Fatal(detail)
	}
}

// TestMetricsRegistered: a second client of one service on one registry is
// an error, not a panic.
func TestMetricsRegistered(t *testing.T) {
	srv := fake.New(t, fake.Options{})
	_, reg := newClient(t, srv)
	if _, err := New(Options[*parsed]{URLs: []string{srv.URL()}, Parse: parse, Service: "svc", Registerer: reg}); err == nil {
		t.Fatal("want an error")
	}
}

func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return sum(t, reg, name, "", "")
}

func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	return sum(t, reg, name, "", "")
}

// sum adds the series of a metric, those with label=value when label is set.
func sum(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if label != "" && lp.GetName() == label && lp.GetValue() != value {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				total += m.GetCounter().GetValue()
			case m.Gauge != nil:
				total += m.GetGauge().GetValue()
			}
		}
	}
	return total
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
