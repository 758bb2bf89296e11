package kafka

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/tools/embedded"
)

// esSetup starts kfake with topics and returns settings for it.
func esSetup(t *testing.T, topics ...string) (*embedded.Kafka, *Settings) {
	t.Helper()
	k, err := embedded.StartKafka(embedded.KafkaOptions{Partitions: 3, Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	cfg, err := config.Load(config.Search, func(key string) (string, bool) {
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
	return k, s
}

// esProduce writes n records to each partition of topic.
func esProduce(t *testing.T, k *embedded.Kafka, topic string, n int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for p := int32(0); p < 3; p++ {
		for range n {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: []byte("x")})
		}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// esCommit commits offset on every partition of topic for group, as a
// consumer outside a group generation (kafka-python) does.
func esCommit(t *testing.T, k *embedded.Kafka, group, topic string, offset int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...), kgo.MaxVersions(kversion.V2_3_0()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	for p := int32(0); p < 3; p++ {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, offset
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				t.Fatalf("commit %s/%d: %v", rt.Topic, rp.Partition, err)
			}
		}
	}
}

// esCommitted returns group's committed offsets on topic's partitions.
func esCommitted(t *testing.T, s *Settings, group, topic string) []int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(s.Brokers, s.config("test"))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	var out []int64
	for p := int32(0); p < 3; p++ {
		out = append(out, resp.GetBlock(topic, p).Offset)
	}
	return out
}

func TestEmptyState(t *testing.T) {
	const in, group = "es-in", "es-group"
	k, s := esSetup(t, in)
	esProduce(t, k, in, 5)

	// No commits: nothing to say.
	if e, err := s.EmptyState(group, []string{in}); err != nil || e != nil {
		t.Fatalf("group without commits: %v, %v; want nil", e, err)
	}
	// Commits (the Python service's), no table topic: the trap.
	esCommit(t, k, group, in, 4)
	e, err := s.EmptyState(group, []string{in})
	if err != nil || e == nil || !e.TableMissing || e.Skipped() != 12 || e.Table != group+"-table" {
		t.Fatalf("commits without a table: %+v, %v; want the table missing and 12 records skipped", e, err)
	}
	// The table topic exists but holds nothing: still the trap.
	if err := k.CreateTopic(group+"-table", 3); err != nil {
		t.Fatal(err)
	}
	e, err = s.EmptyState(group, []string{in})
	if err != nil || e == nil || e.TableMissing {
		t.Fatalf("commits with an empty table: %+v, %v; want an empty table", e, err)
	}
	// One record in one partition of the table: the group has state.
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: group + "-table", Partition: 2, Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if e, err := s.EmptyState(group, []string{in}); err != nil || e != nil {
		t.Fatalf("commits with a table record: %v, %v; want nil", e, err)
	}
}

// Reprocess moves the group's input offsets back to the oldest and its
// loopback offsets to the end, and refuses while the group has members.
func TestReprocess(t *testing.T) {
	const in, group = "rp-in", "rp-group"
	loop := group + "-loop"
	k, s := esSetup(t, in, loop)
	esProduce(t, k, in, 5)
	esProduce(t, k, loop, 7)
	esCommit(t, k, group, in, 5)
	esCommit(t, k, group, loop, 2)

	if err := s.Reprocess(group, []string{in}); err != nil {
		t.Fatal(err)
	}
	if got := esCommitted(t, s, group, in); got[0] != 0 || got[1] != 0 || got[2] != 0 {
		t.Errorf("input offsets after Reprocess: %v, want 0 (the oldest)", got)
	}
	if got := esCommitted(t, s, group, loop); got[0] != 7 || got[1] != 7 || got[2] != 7 {
		t.Errorf("loopback offsets after Reprocess: %v, want 7 (the end)", got)
	}

	// A running member of the group (the Python service still up): refused.
	esCommit(t, k, group, in, 4) // one record left per partition: the member fetches once joined
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...), kgo.ConsumerGroup(group), kgo.ConsumeTopics(in),
		kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for len(cl.PollFetches(ctx).Records()) == 0 && ctx.Err() == nil {
	}
	err = s.Reprocess(group, []string{in})
	if !errors.Is(err, ErrGroupActive) {
		t.Fatalf("Reprocess with a member in the group: %v, want ErrGroupActive", err)
	}
	if got := esCommitted(t, s, group, in); got[0] != 4 {
		t.Errorf("input offsets moved under a running member: %v", got)
	}
}

func TestClearLocalState(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"tables/g-table.0/x", "views/g-table.1/y", "keep/z"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := ClearLocalState(dir); err != nil {
		t.Fatal(err)
	}
	for sub, want := range map[string]int{"tables": 0, "views": 0, "keep": 1} {
		es, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil || len(es) != want {
			t.Errorf("%s: %d entries (%v), want %d", sub, len(es), err, want)
		}
	}
}
