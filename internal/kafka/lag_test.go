package kafka

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/embedded"
)

// TestLagPerPartition runs Lag against the Kafka protocol (kfake): records
// produced to a group's input topic, part of them consumed and committed
// by a Sarama consumer group, must show as consumer_lag per partition
// (the loopback topic included, at 0); once the group has consumed the
// rest, every partition's lag is 0.
func TestLagPerPartition(t *testing.T) {
	const (
		input = "lag-in"
		group = "lag-group"
	)
	k := testenv.Kafka(t, input, group+"-loop")
	cfg, err := config.Load(config.Inventory, func(key string) (string, bool) {
		if key == "KAFKA_BOOTSTRAP_SERVERS" {
			return k.Brokers()[0], true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.KafkaVersion = embedded.SaramaVersion()
	s, err := New(cfg, true)
	if err != nil {
		t.Fatal(err)
	}

	produced := map[int32]int{0: 10, 1: 7, 2: 0}
	produce(t, k.Brokers(), input, produced)

	reg := prometheus.NewRegistry()
	lag := NewLag(s, "lag-service", reg, 0)
	nop := func(goka.Context, interface{}) {}
	lag.Watch(goka.DefineGroup(group, goka.Input(input, new(codec.Bytes), nop), goka.Loop(new(codec.Bytes), nop)))

	check := func(topic string, want map[int32]int) {
		t.Helper()
		if err := lag.Update(); err != nil {
			t.Fatalf("update: %v", err)
		}
		for p, n := range want {
			var m dto.Metric
			if err := lag.gauge.WithLabelValues(topic, fmt.Sprint(p), group).Write(&m); err != nil {
				t.Fatal(err)
			}
			got := m.GetGauge().GetValue()
			if got != float64(n) {
				t.Errorf("consumer_lag{topic=%q,partition=\"%d\",consumer_group=%q} = %v, want %d", topic, p, group, got, n)
			}
		}
	}
	// Nothing committed: the whole of each partition.
	check(input, produced)
	check(group+"-loop", map[int32]int{0: 0, 1: 0, 2: 0})

	// Consume partition 0 up to offset 4 and all of partition 1.
	consume(t, s, group, input, map[int32]int64{0: 4, 1: 7}, 4+7)
	check(input, map[int32]int{0: 6, 1: 0, 2: 0})

	// The rest.
	consume(t, s, group, input, map[int32]int64{0: 10, 1: 7}, 6)
	check(input, map[int32]int{0: 0, 1: 0, 2: 0})

	// The exposition carries the Python services' labels.
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "consumer_lag" || len(mfs[0].GetMetric()) != 6 {
		t.Fatalf("gathered %v, %v; want consumer_lag with 6 series (3 partitions of 2 topics)", mfs, err)
	}
	for _, m := range mfs[0].GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if len(labels) != 4 || labels["service"] != "lag-service" || labels["consumer_group"] != group || labels["topic"] == "" || labels["partition"] == "" {
			t.Errorf("consumer_lag labels %v, want topic, partition, service, consumer_group", labels)
		}
	}
}

// produce writes n[p] records to each partition p of topic.
func produce(t *testing.T, brokers []string, topic string, n map[int32]int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for p, c := range n {
		for i := range c {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte(fmt.Sprint(i))})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// consume joins group with a Sarama consumer group and marks the records of
// topic below upTo[p] of each partition p; once it has marked want records
// it leaves the group, committing them.
func consume(t *testing.T, s *Settings, group, topic string, upTo map[int32]int64, want int) {
	t.Helper()
	cg, err := sarama.NewConsumerGroup(s.Brokers, group, s.config("lag-test"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := &marker{upTo: upTo, want: want, done: cancel}
	for ctx.Err() == nil {
		if err := cg.Consume(ctx, []string{topic}, h); err != nil && ctx.Err() == nil {
			t.Fatalf("consume: %v", err)
		}
	}
	if err := cg.Close(); err != nil {
		t.Fatalf("close consumer group: %v", err)
	}
	if h.marked != want {
		t.Fatalf("marked %d records, want %d", h.marked, want)
	}
}

type marker struct {
	upTo   map[int32]int64
	want   int
	done   func()
	mu     sync.Mutex
	marked int
}

func (*marker) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (*marker) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (m *marker) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for msg := range claim.Messages() {
		if msg.Offset >= m.upTo[msg.Partition] {
			continue
		}
		sess.MarkMessage(msg, "")
		m.mu.Lock()
		m.marked++
		if m.marked == m.want {
			sess.Commit()
			m.done()
		}
		m.mu.Unlock()
	}
	return nil
}
