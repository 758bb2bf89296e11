package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/testkit/servicetest"
	"github.com/cdcflow/cdcflow/tools/embedded"
	"github.com/cdcflow/cdcflow/tools/shopsim"
)

func testLog(t testing.TB) *slog.Logger {
	if os.Getenv("E2E_VERBOSE") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// produce writes records to the broker in order, per topic.
func produce(t testing.TB, brokers []string, recs []shopsim.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const batch = 2000
	for i := 0; i < len(recs); i += batch {
		end := min(i+batch, len(recs))
		krs := make([]*kgo.Record, 0, end-i)
		for _, r := range recs[i:end] {
			krs = append(krs, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
		}
		if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
}

// service is one service under test, run in-process (testkit/servicetest).
type service = servicetest.Service

// start builds and serves a service with env as its configuration.
func start(t testing.TB, spec config.Service, build app.Builder, env map[string]string, dyn *dynamodb.Client, s3c *s3.Client) *service {
	t.Helper()
	return servicetest.Start(t, spec, build, env, dyn, s3c, testLog(t))
}

// getJSON fetches url into v and returns the status code.
func getJSON(t testing.TB, url string, v any) int {
	t.Helper()
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: decode: %v", url, err)
		}
	}
	return resp.StatusCode
}

// eventually polls check until it returns "" or the deadline passes, then
// fails with the last difference. It fails at once when a service stops.
func eventually(t testing.TB, within time.Duration, check func() string, running ...*service) {
	t.Helper()
	deadline := time.Now().Add(within)
	var last string
	for time.Now().Before(deadline) {
		if last = check(); last == "" {
			return
		}
		for _, s := range running {
			if stopped, err := s.Stopped(); stopped {
				t.Fatalf("service stopped while converging: %v (last difference: %s)", err, last)
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("not converged within %v: %s", within, last)
}

// consumed sums the service's cdc_messages_total: the CDC records its input
// edges have handled, whatever the outcome.
func consumed(t testing.TB, url string) int {
	t.Helper()
	resp, err := httpClient.Get(url + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	total := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, "cdc_messages_total{") {
			var v float64
			if _, err := fmt.Sscanf(line[strings.LastIndex(line, " ")+1:], "%g", &v); err == nil {
				total += v
			}
		}
	}
	return int(total)
}

// diffs collects up to a few differences for a readable failure.
type diffs struct {
	n    int
	msgs []string
}

func (d *diffs) add(format string, args ...any) {
	d.n++
	if len(d.msgs) < 8 {
		d.msgs = append(d.msgs, fmt.Sprintf(format, args...))
	}
}

func (d *diffs) String() string {
	if d.n == 0 {
		return ""
	}
	return fmt.Sprintf("%d differences, e.g.:\n  %s", d.n, strings.Join(d.msgs, "\n  "))
}

func startKafka(t testing.TB) *embedded.Kafka {
	t.Helper()
	k, err := embedded.StartKafka(embedded.KafkaOptions{Partitions: 3,
		Topics: []string{"dbserver1.public.products", "dbserver1.public.orders", "dbserver1.public.order_items"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k
}

// httpClient bounds every request of the tests: a service that stops
// answering fails the test instead of hanging it.
var httpClient = &http.Client{Timeout: 15 * time.Second}
