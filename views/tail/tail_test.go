package tail

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/embedded"
)

// Against the Kafka protocol (kfake): the tail starts Keep records before
// each partition's end, keeps the Keep newest by time with their headers,
// and follows what is produced later.
func TestTailKeepsTheNewestRecords(t *testing.T) {
	const topic = "alerts"
	k := testenv.Kafka(t, topic)
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.Brokers()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			r := &kgo.Record{Topic: topic, Partition: int32(i % 3), Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf(`{"n":%d}`, i)),
				Timestamp: base.Add(time.Duration(i) * time.Second), Headers: []kgo.RecordHeader{{Key: "n", Value: []byte(fmt.Sprint(i))}}}
			if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	produce(0, 30)

	cfg := sarama.NewConfig()
	cfg.Version = embedded.SaramaVersion()
	cfg.ClientID = "tail-test"
	tl := New(Options{Brokers: k.Brokers(), Config: cfg, Topic: topic, Keep: 5, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	waitKeys(t, tl, "29 28 27 26 25")
	if !tl.Running() {
		t.Error("Running() = false while reading")
	}
	r := tl.Records()[0]
	if string(r.Headers["n"]) != "29" || string(r.Value) != `{"n":29}` || !r.Time.Equal(base.Add(29*time.Second)) || r.Partition != 29%3 {
		t.Errorf("newest record %+v", r)
	}
	produce(30, 33)
	waitKeys(t, tl, "32 31 30 29 28")
}

func waitKeys(t *testing.T, tl *Tail, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := ""
		for i, r := range tl.Records() {
			if i > 0 {
				got += " "
			}
			got += string(r.Key)
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("tail keeps keys %q, want %q", got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
