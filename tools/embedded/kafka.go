package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// DefaultPartitions is the partition count of topics created without an
// explicit count (seed topics with KafkaOptions.Partitions unset, topics
// created with a non-positive count, auto-created topics).
const DefaultPartitions = 3

// adminTimeout bounds one admin request (CreateTopic) to the embedded broker.
const adminTimeout = 30 * time.Second

// SaramaVersion returns the newest Kafka protocol version that Sarama (and so
// Goka) can use against the embedded broker: set it as sarama.Config.Version.
//
// kfake answers the newer request versions that Sarama picks from V2_4_0_0 on
// in a way Sarama cannot decode: the consumer-group SyncGroup fails with
// "invalid byteslice length" and the group never starts. V2_3_0_0 and lower
// work. franz-go clients negotiate versions themselves and are unaffected.
func SaramaVersion() sarama.KafkaVersion {
	return sarama.V2_3_0_0
}

// KafkaOptions configures StartKafka. The zero value is a broker on a free
// port with no topics.
type KafkaOptions struct {
	// Port is the TCP port to listen on at 127.0.0.1; 0 picks a free port.
	Port int
	// Partitions is the partition count of Topics and of topics created
	// with a non-positive count; 0 means DefaultPartitions.
	Partitions int32
	// Topics are created when the broker starts.
	Topics []string
	// AllowAutoTopicCreation lets metadata requests create missing topics,
	// like a broker with auto.create.topics.enable=true.
	AllowAutoTopicCreation bool
	// DataDir, when set, keeps the broker's logs, topics and group offsets
	// in that directory and reloads them on the next start with the same
	// DataDir. Empty keeps everything in memory.
	DataDir string
	// Logger receives the broker's log lines (kfake's per-request info lines
	// at debug level); nil discards them.
	Logger *slog.Logger
}

// Kafka is a running single-broker, in-process Kafka-protocol cluster.
type Kafka struct {
	cluster   *kfake.Cluster
	brokers   []string
	logger    *slog.Logger
	closeOnce sync.Once
}

// StartKafka starts an in-process Kafka-protocol broker (kfake, one broker)
// listening on 127.0.0.1 and returns once it accepts connections.
func StartKafka(opts KafkaOptions) (*Kafka, error) {
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("embedded kafka: invalid port %d", opts.Port)
	}
	partitions := opts.Partitions
	if partitions < 0 {
		return nil, fmt.Errorf("embedded kafka: invalid partition count %d", partitions)
	}
	if partitions == 0 {
		partitions = DefaultPartitions
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}

	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(opts.Port), // kfake listens on 127.0.0.1:<port>
		kfake.DefaultNumPartitions(int(partitions)),
		kfake.ClusterID("cdcflow-embedded"),
		kfake.WithLogger(kfakeSlog{logger}),
	}
	if len(opts.Topics) > 0 {
		kopts = append(kopts, kfake.SeedTopics(partitions, opts.Topics...))
	}
	if opts.AllowAutoTopicCreation {
		kopts = append(kopts, kfake.AllowAutoTopicCreation())
	}
	if opts.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(opts.DataDir))
	}

	cluster, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("embedded kafka: start broker on 127.0.0.1:%d: %w", opts.Port, err)
	}
	k := &Kafka{cluster: cluster, brokers: cluster.ListenAddrs(), logger: logger}
	logger.Info("embedded kafka started", "brokers", k.brokers, "data_dir", opts.DataDir)
	return k, nil
}

// Brokers returns the bootstrap addresses (host:port) of the broker.
func (k *Kafka) Brokers() []string {
	return append([]string(nil), k.brokers...)
}

// CreateTopic creates a topic with the given number of partitions (a
// non-positive count means the broker default, DefaultPartitions unless
// configured otherwise). Creating a topic that exists returns an error
// matching kerr.TopicAlreadyExists with errors.Is.
func (k *Kafka) CreateTopic(name string, partitions int32) error {
	if name == "" {
		return errors.New("embedded kafka: create topic: empty name")
	}
	if partitions <= 0 {
		partitions = -1 // broker default
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(k.brokers...))
	if err != nil {
		return fmt.Errorf("embedded kafka: create topic %q: admin client: %w", name, err)
	}
	defer cl.Close()

	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()

	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(adminTimeout / time.Millisecond)
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = name
	rt.NumPartitions = partitions
	rt.ReplicationFactor = -1 // broker default
	req.Topics = append(req.Topics, rt)

	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("embedded kafka: create topic %q: %w", name, err)
	}
	if len(resp.Topics) != 1 {
		return fmt.Errorf("embedded kafka: create topic %q: broker answered for %d topics, want 1", name, len(resp.Topics))
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		msg := ""
		if m := resp.Topics[0].ErrorMessage; m != nil {
			msg = ": " + *m
		}
		return fmt.Errorf("embedded kafka: create topic %q%s: %w", name, msg, err)
	}
	k.logger.Debug("embedded kafka topic created", "topic", name, "partitions", partitions)
	return nil
}

// Close stops the broker, persisting its state first when a DataDir is
// set. It is safe to call more than once.
func (k *Kafka) Close() {
	k.closeOnce.Do(func() {
		k.cluster.Close()
		k.logger.Info("embedded kafka stopped", "brokers", k.brokers)
	})
}

// kfakeSlog adapts kfake's printf-style logger to slog. kfake logs every
// request at its info level, so that level maps to slog debug.
type kfakeSlog struct{ l *slog.Logger }

// Logf implements kfake.Logger.
func (a kfakeSlog) Logf(level kfake.LogLevel, format string, args ...any) {
	var lvl slog.Level
	switch level {
	case kfake.LogLevelError:
		lvl = slog.LevelError
	case kfake.LogLevelWarn:
		lvl = slog.LevelWarn
	case kfake.LogLevelInfo:
		lvl = slog.LevelDebug
	case kfake.LogLevelDebug:
		lvl = slog.LevelDebug - 4
	default:
		return
	}
	ctx := context.Background()
	if !a.l.Enabled(ctx, lvl) {
		return
	}
	a.l.Log(ctx, lvl, fmt.Sprintf(format, args...), "component", "kfake")
}
