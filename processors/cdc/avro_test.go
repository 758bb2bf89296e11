package cdc

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/codecs/confluent"
	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/internal/registry"
	"github.com/cdcflow/cdcflow/sinks/breaker"
	fakesr "github.com/cdcflow/cdcflow/testkit/registry"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
)

type gokaContext = goka.Context

// fakeCtx is the part of goka.Context the input edge uses.
type fakeCtx struct {
	gokaContext
	topic string
	key   string
	ctx   context.Context

	mu       sync.Mutex
	emitted  []emitted
	released []error // errors of DeferCommit's functions
}

type emitted struct {
	topic   goka.Stream
	key     string
	value   []byte
	headers goka.Headers
}

func (c *fakeCtx) Topic() goka.Stream       { return goka.Stream(c.topic) }
func (c *fakeCtx) Key() string              { return c.key }
func (c *fakeCtx) Partition() int32         { return 0 }
func (c *fakeCtx) Offset() int64            { return 7 }
func (c *fakeCtx) Timestamp() time.Time     { return time.Time{} }
func (c *fakeCtx) Context() context.Context { return c.ctx }
func (c *fakeCtx) Emit(topic goka.Stream, key string, value interface{}, opts ...goka.ContextOption) {
	// The only option the edge passes is the dead letter's headers; read
	// them back from the reason instead of goka's private option type.
	c.mu.Lock()
	defer c.mu.Unlock()
	c.emitted = append(c.emitted, emitted{topic: topic, key: key, value: value.([]byte)})
}
func (c *fakeCtx) DeferCommit() func(error) {
	return func(err error) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.released = append(c.released, err)
	}
}

// harness is an Input over the fake registry, with a handler recording
// what it is given.
type harness struct {
	in      *Input
	reg     *prometheus.Registry
	srv     *fakesr.Server
	client  *registry.Client[*debezium.RegistrySchema]
	mu      sync.Mutex
	handled []debezium.Message
	log     *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func newHarness(t testing.TB, withRegistry bool) *harness {
	t.Helper()
	h := &harness{reg: prometheus.NewRegistry(), srv: fakesr.New(t, fakesr.Options{}), log: &syncBuffer{}}
	cfg := InputConfig{Service: "svc", DLQTopic: "svc-dlq", Decoder: debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2}),
		Metrics: NewMetrics(h.reg, "svc"), Log: slog.New(slog.NewTextHandler(h.log, nil)),
		Backoff: func(int) time.Duration { return 20 * time.Millisecond }}
	if withRegistry {
		cl, err := registry.New(registry.Options[*debezium.RegistrySchema]{URLs: []string{h.srv.URL()}, ParseTyped: debezium.ParseRegistrySchema,
			Service: "svc", Registerer: h.reg, Timeout: 500 * time.Millisecond, BreakerThreshold: 2, BreakerCooldown: 200 * time.Millisecond,
			NotFoundDelay: 10 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		h.client, cfg.Schemas = cl, cl
	}
	h.in = NewInput(cfg)
	return h
}

func (h *harness) handler(_ goka.Context, m *debezium.Message) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.handled = append(h.handled, *m)
	return nil
}

func (h *harness) handle(ctx context.Context, topic string, key, value []byte) *fakeCtx {
	c := &fakeCtx{topic: topic, key: string(key), ctx: ctx}
	var msg any
	if value != nil {
		msg = value
	}
	h.in.handle(c, msg, h.handler)
	return c
}

func (h *harness) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.handled)
}

const products = "dbserver1.public.products"

var product = debezium.Product{ID: 5, Name: "Laptop", Description: "fast", PriceCents: 129999, StockQuantity: 12, CreatedAt: 1736931600000000, UpdatedAt: 1736931600000000}

// encode renders a product insert in format through the fake registry.
func encode(t testing.TB, srv *fakesr.Server, format dbzenc.Format) (key, value []byte) {
	t.Helper()
	_, key, value, err := dbzenc.Encode(dbzenc.EncodeOptions{Format: format, Register: srv.Register}, debezium.TableProducts,
		debezium.OpCreate, product.ID, nil, &product, dbzenc.Source{LSN: 0x1533_6A8, TsMs: 1736931600123, LastCommitLSN: 0x1533_000})
	if err != nil {
		t.Fatal(err)
	}
	return key, value
}

// TestAvroRecordsDecodeLikeJSON: a framed Avro record (key framed too)
// reaches the handler as the same Message its JSON envelope gives; each
// schema id is asked for once.
func TestAvroRecordsDecodeLikeJSON(t *testing.T) {
	h := newHarness(t, true)
	dec := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	for _, f := range []struct{ avro, json dbzenc.Format }{{dbzenc.FormatAvro, dbzenc.FormatEnvelope}, {dbzenc.FormatAvroFlat, dbzenc.FormatFlat}} {
		key, value := encode(t, h.srv, f.avro)
		if _, _, ok := confluent.Split(key); !ok {
			t.Fatalf("%s key is not framed", f.avro)
		}
		jk, jv := encode(t, h.srv, f.json)
		want, err := dec.Decode(products, jk, jv)
		if err != nil {
			t.Fatal(err)
		}
		h.handled = nil
		for range 3 {
			if c := h.handle(context.Background(), products, key, value); len(c.emitted) != 0 {
				t.Fatalf("%s: dead-lettered", f.avro)
			}
		}
		if h.count() != 3 {
			t.Fatalf("%s: handled %d, want 3", f.avro, h.count())
		}
		for _, m := range h.handled {
			if m.ID != want.ID || m.Op != want.Op || m.Pos != want.Pos || m.Table != want.Table || m.AfterProduct == nil || *m.AfterProduct != *want.AfterProduct {
				t.Fatalf("%s message %+v (%+v), want %+v (%+v)", f.avro, m, m.AfterProduct, want, want.AfterProduct)
			}
		}
	}
	// Three ids: the two formats' value schemas and their shared key schema.
	if n := h.srv.Requests("GET /schemas/ids/{id}"); n != 3 {
		t.Fatalf("%d registry requests for 3 schema ids, want 3", n)
	}
}

// TestJSONAndTombstonesSkipTheRegistry: JSON records and tombstones (also
// with a framed key) never ask the registry.
func TestJSONAndTombstonesSkipTheRegistry(t *testing.T) {
	h := newHarness(t, true)
	jk, jv := encode(t, h.srv, dbzenc.FormatEnvelope)
	h.handle(context.Background(), products, jk, jv)
	_, ak, err := dbzenc.EncodeKey(dbzenc.EncodeOptions{Format: dbzenc.FormatAvro, Register: h.srv.Register}, debezium.TableProducts, 5)
	if err != nil {
		t.Fatal(err)
	}
	c := h.handle(context.Background(), products, ak, nil)
	if len(c.emitted) != 0 || h.count() != 1 || h.srv.Requests("GET /schemas/ids/{id}") != 0 {
		t.Fatalf("emitted %d, handled %d, requests %d", len(c.emitted), h.count(), h.srv.Requests("GET /schemas/ids/{id}"))
	}
}

// TestUnknownSchemaIDIsDeadLettered: an id the registry does not know sends
// the record to the dead-letter topic with the reason, counted as schema.
func TestUnknownSchemaIDIsDeadLettered(t *testing.T) {
	h := newHarness(t, true)
	_, value := encode(t, h.srv, dbzenc.FormatAvro)
	_, payload, _ := confluent.Split(value)
	c := h.handle(context.Background(), products, []byte(`{"id":5}`), confluent.Frame(42, payload))
	checkDeadLetter(t, h, c, "schema id 42 not found in the registry")
}

// TestFramedWithoutRegistry: without SCHEMA_REGISTRY_URL a framed record is
// dead-lettered with the reason naming the setting.
func TestFramedWithoutRegistry(t *testing.T) {
	h := newHarness(t, false)
	_, value := encode(t, h.srv, dbzenc.FormatAvro)
	id, _, _ := confluent.Split(value)
	c := h.handle(context.Background(), products, []byte(`{"id":5}`), value)
	checkDeadLetter(t, h, c, (&NoRegistryError{ID: id}).Error())
	if !strings.Contains((&NoRegistryError{ID: 3}).Error(), "Confluent-framed record (schema id 3) but SCHEMA_REGISTRY_URL is not set") {
		t.Fatal((&NoRegistryError{ID: 3}).Error())
	}
}

func checkDeadLetter(t *testing.T, h *harness, c *fakeCtx, why string) {
	t.Helper()
	if len(c.emitted) != 1 || c.emitted[0].topic != "svc-dlq" || h.count() != 0 {
		t.Fatalf("emitted %+v, handled %d: want one dead letter", c.emitted, h.count())
	}
	if got := counterValue(t, h.reg, "consumer_messages_failed_total", "error_type", "schema"); got != 1 {
		t.Fatalf("consumer_messages_failed_total{error_type=schema} = %v, want 1", got)
	}
	// The reason, which the dead letter's error header carries, is logged
	// with it.
	if logged := h.log.String(); !strings.Contains(logged, "record sent to dead-letter topic") || !strings.Contains(logged, "error=\""+why+"\"") {
		t.Fatalf("dead letter logged as %q, want the reason %q", logged, why)
	}
}

// TestOutageWaitsNothingLost: while the registry fails, the record waits
// (no dead letter, the handler not called), the breaker opens, and once
// the registry is back the record is handled, once.
func TestOutageWaitsNothingLost(t *testing.T) {
	h := newHarness(t, true)
	key, value := encode(t, h.srv, dbzenc.FormatAvro)
	h.srv.Fail(503)
	done := make(chan *fakeCtx)
	go func() { done <- h.handle(context.Background(), products, key, value) }()
	deadline := time.Now().Add(10 * time.Second)
	for h.client.Breaker().State() != breaker.Open {
		select {
		case c := <-done:
			t.Fatalf("the record did not wait for the registry: %d dead letters, %d handled", len(c.emitted), h.count())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the breaker did not open within 10s")
		}
	}
	if got := counterValue(t, h.reg, "cdc_records_waiting_for_schema", "", ""); got != 1 {
		t.Fatalf("waiting gauge %v, want 1", got)
	}
	if ok, _ := h.client.Health(); ok {
		t.Fatal("registry reported healthy during the outage")
	}
	h.srv.Stop() // and then no answer at all
	time.Sleep(300 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("the record did not wait for the registry")
	default:
	}
	if err := h.srv.Resume(); err != nil {
		t.Fatal(err)
	}
	h.srv.Fail(0)
	var c *fakeCtx
	select {
	case c = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the record still waits after the registry came back")
	}
	if len(c.emitted) != 0 || h.count() != 1 || len(c.released) != 0 {
		t.Fatalf("emitted %d, handled %d, released %v: want handled once", len(c.emitted), h.count(), c.released)
	}
	if got := counterValue(t, h.reg, "cdc_schema_lookup_retries_total", "", ""); got < 2 {
		t.Fatalf("retries %v", got)
	}
	if got := counterValue(t, h.reg, "cdc_records_waiting_for_schema", "", ""); got != 0 {
		t.Fatalf("waiting gauge %v after the wait", got)
	}
	if ok, detail := h.client.Health(); !ok {
		t.Fatal(detail)
	}
}

// TestStopWhileWaitingReleasesUncommitted: a partition that stops while its
// record waits releases the record uncommitted (ErrStopped), without a
// dead letter or a call of the handler.
func TestStopWhileWaitingReleasesUncommitted(t *testing.T) {
	h := newHarness(t, true)
	key, value := encode(t, h.srv, dbzenc.FormatAvro)
	h.srv.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *fakeCtx)
	go func() { done <- h.handle(ctx, products, key, value) }()
	time.Sleep(200 * time.Millisecond)
	cancel()
	c := <-done
	if len(c.emitted) != 0 || h.count() != 0 || len(c.released) != 1 || !errors.Is(c.released[0], ErrStopped) {
		t.Fatalf("emitted %d, handled %d, released %v", len(c.emitted), h.count(), c.released)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
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
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}
