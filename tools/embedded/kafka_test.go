package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testWait bounds how long a test waits for records before it gives up; it
// is a deadline against hanging, not a timing assertion.
const testWait = 60 * time.Second

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func startKafka(t *testing.T, opts KafkaOptions) *Kafka {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger()
	}
	k, err := StartKafka(opts)
	if err != nil {
		t.Fatalf("StartKafka(%+v): %v", opts, err)
	}
	t.Cleanup(k.Close)
	return k
}

func newClient(t *testing.T, k *Kafka, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(k.Brokers()...)}, opts...)...)
	if err != nil {
		t.Fatalf("kgo.NewClient: %v", err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// partitionCounts asks the broker, over the wire, how many partitions each
// topic has.
func partitionCounts(t *testing.T, k *Kafka, topics ...string) map[string]int {
	t.Helper()
	cl := newClient(t, k)
	req := kmsg.NewPtrMetadataRequest()
	for _, topic := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatalf("metadata request: %v", err)
	}
	got := make(map[string]int)
	for _, rt := range resp.Topics {
		if rt.Topic == nil {
			continue
		}
		if err := kerr.ErrorForCode(rt.ErrorCode); err != nil {
			got[*rt.Topic] = -1
			continue
		}
		got[*rt.Topic] = len(rt.Partitions)
	}
	return got
}

func produce(t *testing.T, k *Kafka, topic string, values ...string) {
	t.Helper()
	cl := newClient(t, k, kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	var recs []*kgo.Record
	for i, v := range values {
		recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(v)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce %d records to %s: %v", len(values), topic, err)
	}
}

// consumeAll reads topic from the start until want records arrived and
// returns their values sorted.
func consumeAll(t *testing.T, k *Kafka, topic string, want int) []string {
	t.Helper()
	cl := newClient(t, k, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	var got []string
	for len(got) < want {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records from %s before giving up: %v", len(got), want, topic, ctx.Err())
		}
		if errs := fetches.Errors(); len(errs) > 0 {
			t.Fatalf("fetch from %s: %v", topic, errs[0].Err)
		}
		fetches.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	slices.Sort(got)
	return got
}

func TestKafkaProduceConsumeSeedTopic(t *testing.T) {
	k := startKafka(t, KafkaOptions{Topics: []string{"dbserver1.public.products", "dbserver1.public.orders"}})

	if len(k.Brokers()) != 1 {
		t.Fatalf("Brokers() = %v, want exactly one", k.Brokers())
	}
	host, _, err := net.SplitHostPort(k.Brokers()[0])
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("broker %q does not listen on 127.0.0.1 (err %v)", k.Brokers()[0], err)
	}

	counts := partitionCounts(t, k, "dbserver1.public.products", "dbserver1.public.orders")
	for _, topic := range []string{"dbserver1.public.products", "dbserver1.public.orders"} {
		if counts[topic] != DefaultPartitions {
			t.Errorf("seed topic %s has %d partitions, want %d", topic, counts[topic], DefaultPartitions)
		}
	}

	want := []string{"a", "b", "c", "d", "e", "f", "g"}
	produce(t, k, "dbserver1.public.products", want...)
	got := consumeAll(t, k, "dbserver1.public.products", len(want))
	if !slices.Equal(got, want) {
		t.Fatalf("consumed %v, want %v", got, want)
	}
}

func TestKafkaSeedPartitionsAndUnknownTopic(t *testing.T) {
	k := startKafka(t, KafkaOptions{Partitions: 5, Topics: []string{"five"}})
	counts := partitionCounts(t, k, "five", "missing")
	if counts["five"] != 5 {
		t.Errorf("seed topic has %d partitions, want 5", counts["five"])
	}
	if counts["missing"] != -1 {
		t.Errorf("topic never created reported %d partitions, want an error (auto-creation is off)", counts["missing"])
	}
}

func TestKafkaCreateTopic(t *testing.T) {
	k := startKafka(t, KafkaOptions{})

	if err := k.CreateTopic("two", 2); err != nil {
		t.Fatalf("CreateTopic(two, 2): %v", err)
	}
	if err := k.CreateTopic("default", 0); err != nil {
		t.Fatalf("CreateTopic(default, 0): %v", err)
	}
	counts := partitionCounts(t, k, "two", "default")
	if counts["two"] != 2 || counts["default"] != DefaultPartitions {
		t.Fatalf("partition counts %v, want two:2 default:%d", counts, DefaultPartitions)
	}

	err := k.CreateTopic("two", 2)
	if !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("second CreateTopic(two) = %v, want kerr.TopicAlreadyExists", err)
	}
	if err := k.CreateTopic("", 1); err == nil {
		t.Fatal("CreateTopic with an empty name succeeded")
	}

	produce(t, k, "two", "x", "y")
	if got := consumeAll(t, k, "two", 2); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("consumed %v from a created topic, want [x y]", got)
	}
}

func TestKafkaFixedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}

	k := startKafka(t, KafkaOptions{Port: port, Topics: []string{"p"}})
	if want := fmt.Sprintf("127.0.0.1:%d", port); !slices.Equal(k.Brokers(), []string{want}) {
		t.Fatalf("Brokers() = %v, want [%s]", k.Brokers(), want)
	}
	// A second broker on the same port must fail, not silently pick another.
	if k2, err := StartKafka(KafkaOptions{Port: port}); err == nil {
		k2.Close()
		t.Fatalf("second StartKafka on busy port %d succeeded", port)
	}
	if _, err := StartKafka(KafkaOptions{Port: -1}); err == nil {
		t.Fatal("StartKafka with port -1 succeeded")
	}
}

func TestKafkaDataDirSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	k1, err := StartKafka(KafkaOptions{DataDir: dir, Topics: []string{"kept"}, Logger: testLogger()})
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	produce(t, k1, "kept", "one", "two", "three")
	k1.Close()
	k1.Close() // idempotent

	k2 := startKafka(t, KafkaOptions{DataDir: dir})
	if got := consumeAll(t, k2, "kept", 3); !slices.Equal(got, []string{"one", "three", "two"}) {
		t.Fatalf("after restart consumed %v, want [one three two]", got)
	}
}

// groupCollector is a sarama.ConsumerGroupHandler that collects values.
type groupCollector struct {
	mu   sync.Mutex
	got  []string
	want int
	done chan struct{}
	once sync.Once
}

func (*groupCollector) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (*groupCollector) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (c *groupCollector) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		c.mu.Lock()
		c.got = append(c.got, string(msg.Value))
		if len(c.got) >= c.want {
			c.once.Do(func() { close(c.done) })
		}
		c.mu.Unlock()
		sess.MarkMessage(msg, "")
	}
	return nil
}

// TestKafkaSaramaConsumerGroup checks the version that Goka must use:
// Sarama produces and consumes as a consumer group against the broker.
func TestKafkaSaramaConsumerGroup(t *testing.T) {
	k := startKafka(t, KafkaOptions{Topics: []string{"sarama-topic"}})

	cfg := sarama.NewConfig()
	cfg.Version = SaramaVersion()
	cfg.Producer.Return.Successes = true
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Return.Errors = true

	producer, err := sarama.NewSyncProducer(k.Brokers(), cfg)
	if err != nil {
		t.Fatalf("sarama producer: %v", err)
	}
	want := []string{"m0", "m1", "m2", "m3", "m4"}
	for i, v := range want {
		msg := &sarama.ProducerMessage{Topic: "sarama-topic", Key: sarama.StringEncoder(strconv.Itoa(i)), Value: sarama.StringEncoder(v)}
		if _, _, err := producer.SendMessage(msg); err != nil {
			t.Fatalf("sarama send %s: %v", v, err)
		}
	}
	if err := producer.Close(); err != nil {
		t.Fatalf("sarama producer close: %v", err)
	}

	group, err := sarama.NewConsumerGroup(k.Brokers(), "sarama-group", cfg)
	if err != nil {
		t.Fatalf("sarama consumer group: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	handler := &groupCollector{want: len(want), done: make(chan struct{})}
	consumeErr := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if err := group.Consume(ctx, []string{"sarama-topic"}, handler); err != nil {
				consumeErr <- err
				return
			}
		}
		consumeErr <- nil
	}()
	select {
	case <-handler.done:
	case err := <-consumeErr:
		t.Fatalf("sarama group consume ended before all records: %v", err)
	case groupErr := <-group.Errors():
		t.Fatalf("sarama group error: %v", groupErr)
	case <-ctx.Done():
		t.Fatalf("sarama group got %d of %d records before giving up", len(handler.got), len(want))
	}
	cancel()
	if err := <-consumeErr; err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("sarama group consume: %v", err)
	}
	if err := group.Close(); err != nil {
		t.Errorf("sarama group close: %v", err)
	}
	handler.mu.Lock()
	got := slices.Clone(handler.got)
	handler.mu.Unlock()
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("sarama group consumed %v, want %v", got, want)
	}
}
