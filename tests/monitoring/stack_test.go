package monitoring

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/testkit/servicetest"
	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/embedded"
	"github.com/cdcflow/cdcflow/tools/shopsim"
)

// Services in the order the tests scrape them.
var services = []string{"inventory-service", "analytics-service", "search-indexer"}

const (
	reportBucket = "cdcflow-reports"
	dlqBucket    = "cdcflow-dlq"
)

// Scrape is each service's /metrics, parsed.
type Scrape map[string]map[string]*dto.MetricFamily // service → metric family name → family

var (
	scrapeOnce sync.Once
	scraped    Scrape
	scrapeErr  error
)

// scrapeServices runs the three services once per test binary on the test
// stack, with every sink (DynamoDB, S3 reports, dead-letter archive), feeds
// them a small shop with one undecodable record per topic, waits until each
// has handled its input and reported the lag of every one of its groups,
// and returns their /metrics. The services stop when the first test that
// asked for them ends; the scrape stays.
func scrapeServices(t *testing.T) Scrape {
	t.Helper()
	scrapeOnce.Do(func() { scraped, scrapeErr = runAndScrape(t) })
	if scrapeErr != nil {
		t.Fatal(scrapeErr)
	}
	if scraped == nil { // the first test skipped while starting the stack
		t.Skip("the test stack could not start here (see the first test's skip)")
	}
	return scraped
}

func runAndScrape(t *testing.T) (Scrape, error) {
	db := testenv.Dynalite(t) // skipped without node, a failure under CI
	dyn, err := db.Client(context.Background())
	if err != nil {
		return nil, err
	}
	inputs := []string{"dbserver1.public.products", "dbserver1.public.orders", "dbserver1.public.order_items"}
	k, err := embedded.StartKafka(embedded.KafkaOptions{Partitions: 3, Topics: inputs})
	if err != nil {
		return nil, err
	}
	t.Cleanup(k.Close)
	_, s3c := testenv.S3(t, reportBucket, dlqBucket)

	changes := shopsim.New(shopsim.Config{Seed: 7, Products: 20}).Generate(400)
	recs, err := shopsim.Encode(changes, dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelope})
	if err != nil {
		return nil, err
	}
	krs := make([]*kgo.Record, 0, len(recs)+len(inputs))
	for _, r := range recs {
		krs = append(krs, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
	}
	for _, topic := range inputs { // a dead letter on every input topic
		krs = append(krs, &kgo.Record{Topic: topic, Key: []byte(`{"id":1}`), Value: []byte("not json")})
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = cl.ProduceSync(ctx, krs...).FirstErr()
	cl.Close()
	if err != nil {
		return nil, fmt.Errorf("produce: %w", err)
	}
	perTopic := map[string]int{}
	for _, r := range krs {
		perTopic[r.Topic]++
	}

	brokers := strings.Join(k.Brokers(), ",")
	base := map[string]string{"KAFKA_BOOTSTRAP_SERVERS": brokers, "DLQ_S3_BUCKET": dlqBucket}
	with := func(extra ...string) map[string]string {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for i := 0; i < len(extra); i += 2 {
			env[extra[i]] = extra[i+1]
		}
		return env
	}
	urls := map[string]string{
		"inventory-service": start(t, config.Inventory, app.Inventory, with("DYNAMODB_TABLE", "inventory-realtime"), dyn, s3c),
		"analytics-service": start(t, config.Analytics, app.Analytics, with("S3_BUCKET", reportBucket, "FLUSH_INTERVAL", "1"), nil, s3c),
		"search-indexer":    start(t, config.Search, app.Search, with("DYNAMODB_TABLE", "product-search-index"), dyn, s3c),
	}

	// Wait until every input record is handled, the dead letters are
	// archived, and consumer_lag covers every group of the service.
	out := Scrape{}
	deadline := time.Now().Add(2 * time.Minute)
	for _, svc := range services {
		want := 0
		for _, topic := range reads[svc] {
			want += perTopic[topic]
		}
		for {
			fams, err := get(urls[svc] + "/metrics")
			if err != nil {
				return nil, err
			}
			why := settled(svc, fams, want, len(reads[svc]))
			if why == "" {
				out[svc] = fams
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%s did not settle: %s", svc, why)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	return out, nil
}

// reads are the input topics of each service.
var reads = map[string][]string{
	"inventory-service": {"dbserver1.public.products", "dbserver1.public.order_items"},
	"analytics-service": {"dbserver1.public.orders", "dbserver1.public.order_items"},
	"search-indexer":    {"dbserver1.public.products"},
}

// groupsOf are the consumer groups a service runs with every sink.
func groupsOf(svc string) []string {
	g := svc + "-group"
	if svc == "analytics-service" {
		return []string{g, g + "-dlq-s3"}
	}
	return []string{g, g + "-dynamodb", g + "-dlq-s3"}
}

// settled says what svc still lacks ("" when nothing): want input records
// handled, its dead letters (one per input topic) archived, and
// consumer_lag reported for every group.
func settled(svc string, fams map[string]*dto.MetricFamily, want, deadLetters int) string {
	if got := sum(fams["cdc_messages_total"]); got < float64(want) {
		return fmt.Sprintf("%v of %d input records handled", got, want)
	}
	if got := sum(fams["dlq_s3_archived_total"]); got < float64(deadLetters) {
		return fmt.Sprintf("%v of %d dead letters archived", got, deadLetters)
	}
	groups := map[string]bool{}
	for _, m := range fams["consumer_lag"].GetMetric() {
		groups[label(m, "consumer_group")] = true
	}
	for _, g := range groupsOf(svc) {
		if !groups[g] {
			return "no consumer_lag of group " + g
		}
	}
	return ""
}

// sum adds the values of f's series whose labels include want (pairs of
// name and value); a histogram's series count their observations.
func sum(f *dto.MetricFamily, want ...string) float64 {
	total := 0.0
	for _, m := range filter(f.GetMetric(), want...) {
		total += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
	}
	return total
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// get fetches and parses a Prometheus text exposition.
func get(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := httpClient.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	return p.TextToMetricFamilies(resp.Body)
}

var httpClient = &http.Client{Timeout: 15 * time.Second}

// start builds and serves one service in-process (testkit/servicetest) and
// returns its URL; it stops when t ends.
func start(t *testing.T, spec config.Service, build app.Builder, env map[string]string, dyn *dynamodb.Client, s3c *s3.Client) string {
	t.Helper()
	return servicetest.Start(t, spec, build, env, dyn, s3c, slog.New(slog.NewTextHandler(io.Discard, nil))).URL
}

// filter returns the series whose labels include want (name, value pairs).
func filter(ms []*dto.Metric, want ...string) []*dto.Metric {
	var out []*dto.Metric
next:
	for _, m := range ms {
		for i := 0; i+1 < len(want); i += 2 {
			if label(m, want[i]) != want[i+1] {
				continue next
			}
		}
		out = append(out, m)
	}
	return out
}
