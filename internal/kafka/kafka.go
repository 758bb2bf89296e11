// Package kafka builds the Sarama configuration and the Goka options of a
// service from its validated configuration: protocol version, client id, an
// idempotent ordered producer, TLS and SASL, the topic manager and local
// table storage. Every builder gets its config explicitly; Goka's global
// config is never touched.
package kafka

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"hash"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/xdg-go/scram"

	"github.com/cdcflow/cdcflow/internal/config"
)

// RebalanceTimeout is how long a consumer-group rebalance may wait for the
// members to rejoin (Sarama's default is 60 s).
const RebalanceTimeout = 20 * time.Second

// StreamRetention is the retention of the internal streams the services
// create (loopback topics): long enough to survive a long outage.
const StreamRetention = 7 * 24 * time.Hour

// Settings is what the Kafka clients of one service share.
type Settings struct {
	Brokers     []string
	Sarama      *sarama.Config
	TopicConfig *goka.TopicManagerConfig
	Storage     storage.Builder // the processors' tables
	// ViewStorage is the views' local storage. It must not be Storage: a
	// view of a group table and the group's processor in one process
	// would open the same LevelDB directory, which LevelDB's lock refuses.
	ViewStorage storage.Builder
	Log         *slog.Logger // Goka's own log lines; nil keeps Goka's default
}

// New builds the settings. With memory true the tables are kept in memory
// (tests and the local system); otherwise in LevelDB under cfg.StateDir:
// the processors' tables in tables/, the views' copies in views/.
func New(cfg config.Config, memory bool) (*Settings, error) {
	sc := goka.DefaultConfig()
	sc.Version = cfg.KafkaVersion
	sc.ClientID = cfg.ClientID
	// CDC topics are read from the beginning on first start: the snapshot
	// is part of the state.
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	// Ordered, gap-free delivery per partition is what the processors'
	// deduplication of deltas relies on.
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Retry.Max = 10
	sc.Producer.Retry.Backoff = 250 * time.Millisecond
	sc.Producer.Flush.Frequency = 5 * time.Millisecond
	sc.Producer.Compression = sarama.CompressionNone
	// A JoinGroup is answered when the group's rebalance completes, which
	// the coordinator lets take up to the rebalance timeout (a member that
	// crashed after joining holds it up until then). Sarama waits for
	// every response at most Net.ReadTimeout (30 s) and fails the join
	// with "i/o timeout" otherwise (IBM/sarama#2820): with Sarama's
	// default rebalance timeout of 60 s, an instance restarted after a
	// crash could stop this way. Keep the rebalance timeout below the read
	// timeout; joins that still time out are retried (OrderedCommits).
	sc.Consumer.Group.Rebalance.Timeout = RebalanceTimeout
	// Sarama's channels between its fetchers, partition consumers and
	// Goka hold 256 messages by default; the processors hand messages
	// through several of them per record (input, loopback, changelog).
	// 1,024 measured +20% events/s on the inventory processor (median of
	// three runs each, 59.6k vs 50.6k, 12 partitions, cdc-bench), no change
	// for analytics and search, and no more memory; 4,096 was slower and
	// larger fetches (Fetch.Default 2-4 MiB) added 330-470 MiB of RSS for
	// no gain.
	sc.ChannelBufferSize = 1024
	if cfg.TLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.TLSSkipVerify} //nolint:gosec // opt-in by KAFKA_TLS_INSECURE_SKIP_VERIFY
		if cfg.TLSCAFile != "" {
			pem, err := os.ReadFile(cfg.TLSCAFile)
			if err != nil {
				return nil, fmt.Errorf("KAFKA_TLS_CA_FILE: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("KAFKA_TLS_CA_FILE: no certificate in %s", cfg.TLSCAFile)
			}
			tc.RootCAs = pool
		}
		sc.Net.TLS.Enable = true
		sc.Net.TLS.Config = tc
	}
	if cfg.SASLMechanism != "" {
		sc.Net.SASL.Enable = true
		sc.Net.SASL.User = cfg.SASLUser
		sc.Net.SASL.Password = cfg.SASLPassword
		switch cfg.SASLMechanism {
		case "PLAIN":
			sc.Net.SASL.Mechanism = sarama.SASLTypePlaintext
		case "SCRAM-SHA-256":
			sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.HashGeneratorFcn(sha256.New)} }
		case "SCRAM-SHA-512":
			sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
			sc.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.HashGeneratorFcn(sha512.New)} }
		}
	}
	if err := sc.Validate(); err != nil {
		return nil, fmt.Errorf("kafka client configuration: %w", err)
	}

	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = cfg.Replication
	tmc.Stream.Replication = cfg.Replication
	tmc.Stream.Retention = StreamRetention

	s := &Settings{Brokers: cfg.Brokers, Sarama: sc, TopicConfig: tmc}
	if memory {
		s.Storage, s.ViewStorage = storage.MemoryBuilder(), storage.MemoryBuilder()
		return s, nil
	}
	for _, b := range []struct {
		sub string
		to  *storage.Builder
	}{{"tables", &s.Storage}, {"views", &s.ViewStorage}} {
		dir := filepath.Join(cfg.StateDir, b.sub)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("STATE_DIR: %w", err)
		}
		*b.to = BufferedBuilder(dir, DefaultMaxDirty)
	}
	return s, nil
}

// CallbackOptions are the Goka options that decide what a processor's
// callbacks are given: ProcessorOptions includes them, and tests build
// their processors with them (package testkit/gokatest), so that a test's
// callbacks see what production's see.
func CallbackOptions() []goka.ProcessorOption {
	return []goka.ProcessorOption{
		goka.WithNilHandling(goka.NilProcess), // tombstones reach the callbacks: the input edge counts them, the mirrors delete
	}
}

// ProcessorOptions are the Goka options of a processor of this service.
func (s *Settings) ProcessorOptions(extra ...goka.ProcessorOption) []goka.ProcessorOption {
	opts := append(CallbackOptions(),
		goka.WithClientID(s.Sarama.ClientID),
		goka.WithConsumerGroupBuilder(OrderedCommits(s.consumerGroupBuilder())),
		goka.WithConsumerSaramaBuilder(s.consumerBuilder()),
		goka.WithProducerBuilder(s.producerBuilder()),
		goka.WithTopicManagerBuilder(s.topicManagerBuilder()),
		goka.WithStorageBuilder(s.Storage),
	)
	if s.Log != nil {
		opts = append(opts, goka.WithLogger(GokaLogger(s.Log)))
	}
	return append(opts, extra...)
}

// ViewOptions are the Goka options of a view of this service.
func (s *Settings) ViewOptions(extra ...goka.ViewOption) []goka.ViewOption {
	opts := []goka.ViewOption{
		goka.WithViewClientID(s.Sarama.ClientID + "-view"),
		goka.WithViewConsumerSaramaBuilder(s.consumerBuilder()),
		goka.WithViewTopicManagerBuilder(s.topicManagerBuilder()),
		goka.WithViewStorageBuilder(s.ViewStorage),
		goka.WithViewAutoReconnect(),
	}
	if s.Log != nil {
		opts = append(opts, goka.WithViewLogger(GokaLogger(s.Log)))
	}
	return append(opts, extra...)
}

// Goka's own ...WithConfig builders write the client id and partitioner
// into the config they were given on every call; with processors and views
// built concurrently from one config that is a data race. These copy it.

func (s *Settings) config(clientID string) *sarama.Config {
	c := *s.Sarama
	c.ClientID = clientID
	return &c
}

func (s *Settings) producerBuilder() goka.ProducerBuilder {
	return func(brokers []string, clientID string, hasher func() hash.Hash32) (goka.Producer, error) {
		c := s.config(clientID)
		c.Producer.Partitioner = sarama.NewCustomHashPartitioner(hasher)
		return goka.NewProducer(brokers, c)
	}
}

func (s *Settings) consumerGroupBuilder() goka.ConsumerGroupBuilder {
	return func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		return sarama.NewConsumerGroup(brokers, group, s.config(clientID))
	}
}

func (s *Settings) consumerBuilder() goka.SaramaConsumerBuilder {
	return func(brokers []string, clientID string) (sarama.Consumer, error) {
		return sarama.NewConsumer(brokers, s.config(clientID))
	}
}

// scramClient adapts xdg-go/scram to sarama.SCRAMClient.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (c *scramClient) Begin(user, password, authzID string) error {
	cl, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return fmt.Errorf("scram client: %w", err)
	}
	c.conv = cl.NewConversation()
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) { return c.conv.Step(challenge) }
func (c *scramClient) Done() bool                            { return c.conv.Done() }

// EnsureStreams creates the output topics a service writes (alerts,
// dead letters) when they are missing, with as many partitions as like, a
// topic the service reads. Where the cluster forbids creating topics they
// must exist beforehand; the error names the topic.
func (s *Settings) EnsureStreams(like string, topics ...string) error {
	tm, err := s.topicManagerBuilder()(s.Brokers)
	if err != nil {
		return fmt.Errorf("topic manager: %w", err)
	}
	defer tm.Close()
	parts, err := tm.Partitions(like)
	if err != nil {
		return fmt.Errorf("partitions of %s: %w", like, err)
	}
	for _, t := range topics {
		if err := tm.EnsureStreamExists(t, len(parts)); err != nil {
			return fmt.Errorf("ensure topic %s exists: %w", t, err)
		}
	}
	return nil
}

// Logger adapts slog to Goka's and Sarama's logger interface (both are
// Print, Println, Printf). Neither library gives a line a level, so the
// level comes from the text (LineKind): a line reporting an error or a
// failure is logged at Failure, a warning (a retry, something ignored or
// abandoned) at Warning, anything else at Routine. Build it with
// GokaLogger or SaramaLogger.
type Logger struct {
	Log                       *slog.Logger
	Routine, Warning, Failure slog.Level
}

// GokaLogger is the logger of Goka's processors and views: its lines are
// few (rebalances, recovery, errors), so routine ones are INFO, warnings
// WARN and errors ERROR.
func GokaLogger(log *slog.Logger) Logger {
	return Logger{Log: log.With("component", "goka"), Routine: slog.LevelInfo, Warning: slog.LevelWarn, Failure: slog.LevelError}
}

// SaramaLogger is the logger of the Kafka client library (sarama.Logger).
// Sarama reports every connection, metadata refresh and retry, and
// returns the errors that matter to its caller, which logs them itself:
// its routine lines and warnings are DEBUG, its errors WARN.
func SaramaLogger(log *slog.Logger) Logger {
	return Logger{Log: log.With("component", "sarama"), Routine: slog.LevelDebug, Warning: slog.LevelDebug, Failure: slog.LevelWarn}
}

// Print implements goka.Logger and sarama.StdLogger.
func (l Logger) Print(v ...interface{}) { l.line(fmt.Sprint(v...)) }

// Println implements goka.Logger and sarama.StdLogger.
func (l Logger) Println(v ...interface{}) { l.line(fmt.Sprintln(v...)) }

// Printf implements goka.Logger and sarama.StdLogger.
func (l Logger) Printf(format string, v ...interface{}) { l.line(fmt.Sprintf(format, v...)) }

// Write implements io.Writer, one log line per line written: the standard
// library's log package writes through it (log.SetOutput), so that a
// library's log.Printf (Goka's stats do) comes out as JSON too.
func (l Logger) Write(p []byte) (int, error) {
	for _, line := range strings.Split(string(p), "\n") {
		if strings.TrimSpace(line) != "" {
			l.line(line)
		}
	}
	return len(p), nil
}

func (l Logger) line(msg string) {
	msg = strings.TrimSpace(msg)
	level := l.Routine
	switch LineKind(msg) {
	case KindFailure:
		level = l.Failure
	case KindWarning:
		level = l.Warning
	}
	l.Log.Log(context.Background(), level, msg)
}

// Kinds of a library's log line.
const (
	KindRoutine = iota
	KindWarning
	KindFailure
)

var (
	failureWords = []string{"error", "fail", "unable", "cannot", "could not", "not authorized", "invalid", "panic", "fenced", "unexpected"}
	warningWords = []string{"warning", "retry", "retrying", "because", "abandon", "timeout", "timed out", "leaderless", "not available",
		"did not shutdown", "ignor", "deprecat", "violated", "is not initialized"}
)

// LineKind classifies a log line of Goka or Sarama by its words: an
// error or failure ("Error while starting up", "Failed to connect to
// broker", "non-transient"), a warning ("Will retry in 10 seconds",
// "abandoned subscription ... because", "Ignoring message"), or routine
// ("setup generation 3", "Connected to broker"). A line about a cancelled
// context is routine (it is what a graceful stop looks like), and so is
// one reporting a success.
func LineKind(msg string) int {
	m := strings.ToLower(msg)
	if strings.Contains(m, "context canceled") || strings.Contains(m, "success") {
		// A stop, or a success (Sarama prints responses whole: "successful
		// init producer id &{… Err:kafka server: Not an error …}").
		return KindRoutine
	}
	for _, w := range failureWords {
		if strings.Contains(m, w) {
			return KindFailure
		}
	}
	for _, w := range warningWords {
		if strings.Contains(m, w) {
			return KindWarning
		}
	}
	return KindRoutine
}
