// Package tail keeps the newest records of a Kafka topic in memory, for the
// dashboard and the operators' JSON endpoints: the latest low-stock alerts,
// the latest dead letters with their reasons. It reads every partition of
// the topic with its own Sarama consumer (no consumer group, nothing
// committed), starting Keep records before each partition's end, and keeps
// the Keep newest records by time.
package tail

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// DefaultKeep is how many records a Tail keeps when Options.Keep is zero.
const DefaultKeep = 50

// Record is one record of the topic.
type Record struct {
	Partition int32
	Offset    int64
	Time      time.Time
	Key       []byte
	Value     []byte
	Headers   map[string][]byte // the last value of each header
}

// Options configures a Tail.
type Options struct {
	Brokers []string
	Config  *sarama.Config // the service's client configuration (TLS, SASL, version); copied
	Topic   string
	Keep    int // DefaultKeep when zero
	Log     *slog.Logger
}

// Tail keeps the newest records of one topic.
type Tail struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	records []Record // newest last, at most Keep
	running bool
}

// New returns a Tail; it reads nothing until Run.
func New(opts Options) *Tail {
	if opts.Keep <= 0 {
		opts.Keep = DefaultKeep
	}
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	return &Tail{opts: opts, log: log.With("tail", opts.Topic)}
}

// Topic is the topic the tail reads.
func (t *Tail) Topic() string { return t.opts.Topic }

// Records returns the kept records, newest first.
func (t *Tail) Records() []Record {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Record, len(t.records))
	for i, r := range t.records {
		out[len(out)-1-i] = r
	}
	return out
}

// Running reports whether the tail is reading its topic.
func (t *Tail) Running() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.running
}

// Run reads the topic until ctx ends. Connection failures are retried with
// a backoff; it returns nil when ctx ends.
func (t *Tail) Run(ctx context.Context) error {
	backoff := 500 * time.Millisecond
	for ctx.Err() == nil {
		err := t.consume(ctx)
		if ctx.Err() != nil {
			break
		}
		t.log.Warn("reading the topic failed; retrying", "error", err, "backoff", backoff)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
	return nil
}

func (t *Tail) setRunning(v bool) {
	t.mu.Lock()
	t.running = v
	t.mu.Unlock()
}

// consume reads every partition from Keep records before its end until ctx
// ends or a partition consumer fails.
func (t *Tail) consume(ctx context.Context) error {
	cfg := *t.opts.Config
	cfg.ClientID += "-tail"
	cfg.Consumer.Return.Errors = true
	client, err := sarama.NewClient(t.opts.Brokers, &cfg)
	if err != nil {
		return fmt.Errorf("tail %s: connect: %w", t.opts.Topic, err)
	}
	defer client.Close()
	parts, err := client.Partitions(t.opts.Topic)
	if err != nil {
		return fmt.Errorf("tail %s: partitions: %w", t.opts.Topic, err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("tail %s: consumer: %w", t.opts.Topic, err)
	}
	defer consumer.Close()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	failed := make(chan error, len(parts))
	var wg sync.WaitGroup
	for _, p := range parts {
		start, err := t.startOffset(client, p)
		if err != nil {
			return err
		}
		pc, err := consumer.ConsumePartition(t.opts.Topic, p, start)
		if err != nil {
			return fmt.Errorf("tail %s/%d: consume from %d: %w", t.opts.Topic, p, start, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.AsyncClose()
			for {
				select {
				case <-ctx.Done():
					return
				case m := <-pc.Messages():
					t.add(m)
				case err := <-pc.Errors():
					failed <- err
					return
				}
			}
		}()
	}
	t.setRunning(true)
	defer t.setRunning(false)
	select {
	case <-ctx.Done():
		err = nil
	case err = <-failed:
		err = fmt.Errorf("tail %s: %w", t.opts.Topic, err)
	}
	cancel()
	wg.Wait()
	return err
}

// startOffset is Keep records before the end of partition p, or its start.
func (t *Tail) startOffset(client sarama.Client, p int32) (int64, error) {
	newest, err := client.GetOffset(t.opts.Topic, p, sarama.OffsetNewest)
	if err != nil {
		return 0, fmt.Errorf("tail %s/%d: newest offset: %w", t.opts.Topic, p, err)
	}
	oldest, err := client.GetOffset(t.opts.Topic, p, sarama.OffsetOldest)
	if err != nil {
		return 0, fmt.Errorf("tail %s/%d: oldest offset: %w", t.opts.Topic, p, err)
	}
	return max(oldest, newest-int64(t.opts.Keep)), nil
}

func (t *Tail) add(m *sarama.ConsumerMessage) {
	if m == nil {
		return
	}
	r := Record{Partition: m.Partition, Offset: m.Offset, Time: m.Timestamp, Key: m.Key, Value: m.Value}
	if len(m.Headers) > 0 {
		r.Headers = make(map[string][]byte, len(m.Headers))
		for _, h := range m.Headers {
			if h != nil {
				r.Headers[string(h.Key)] = h.Value
			}
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	// Records arrive in time order per partition; keep the whole list in
	// time order (ties by partition and offset) and the newest Keep.
	i := sort.Search(len(t.records), func(i int) bool { return later(t.records[i], r) })
	t.records = append(t.records, Record{})
	copy(t.records[i+1:], t.records[i:])
	t.records[i] = r
	if n := len(t.records) - t.opts.Keep; n > 0 {
		t.records = append(t.records[:0], t.records[n:]...)
	}
}

// later reports whether a sorts after b.
func later(a, b Record) bool {
	if !a.Time.Equal(b.Time) {
		return a.Time.After(b.Time)
	}
	if a.Partition != b.Partition {
		return a.Partition > b.Partition
	}
	return a.Offset > b.Offset
}
