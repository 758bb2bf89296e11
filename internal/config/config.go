// Package config reads a service's settings from the environment once, at
// start, and validates them; an invalid value stops the service with an
// error naming the variable (CONTRACT section 5).
package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/cdcflow/cdcflow/codecs/debezium"
)

// Service identifies one of the three consumers.
type Service struct {
	Name          string   // inventory-service, analytics-service, search-indexer
	DefaultGroup  string   // KAFKA_GROUP_ID default
	DefaultTopics []string // KAFKA_TOPICS default
	DefaultTable  string   // DYNAMODB_TABLE default, "" when the service has no table
}

// The three services of the contract.
var (
	Inventory = Service{Name: "inventory-service", DefaultGroup: "inventory-service-group",
		DefaultTopics: []string{"dbserver1.public.products", "dbserver1.public.order_items"}, DefaultTable: "inventory-realtime"}
	Analytics = Service{Name: "analytics-service", DefaultGroup: "analytics-service-group",
		DefaultTopics: []string{"dbserver1.public.orders", "dbserver1.public.order_items"}}
	Search = Service{Name: "search-indexer", DefaultGroup: "search-indexer-group",
		DefaultTopics: []string{"dbserver1.public.products"}, DefaultTable: "product-search-index"}
)

// Config is a service's validated configuration.
type Config struct {
	Service Service

	Brokers       []string
	GroupID       string
	Topics        []string
	KafkaVersion  sarama.KafkaVersion
	ClientID      string
	Replication   int  // replication factor of the topics the service creates
	TLS           bool // KAFKA_TLS
	TLSCAFile     string
	TLSSkipVerify bool
	SASLMechanism string // "", PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	SASLUser      string
	SASLPassword  string

	AWSRegion     string
	AWSEndpoint   string // AWS_ENDPOINT_URL; the SDK also reads the per-service variables
	DynamoTable   string
	S3Bucket      string
	DLQS3Bucket   string
	DLQTopic      string
	FlushInterval time.Duration

	LowStockThreshold int64
	LowStockTopic     string
	PendingLimit      int

	HTTPAddr     string
	StateDir     string
	DecimalScale int32
	// UnavailablePlaceholder is the connector's unavailable.value.placeholder
	// (UNAVAILABLE_VALUE_PLACEHOLDER): the text of an unchanged TOASTed value.
	UnavailablePlaceholder string
}

// Load reads the configuration of service s through getenv (os.LookupEnv in
// production). All problems are reported together, each naming its variable.
func Load(s Service, getenv func(string) (string, bool)) (Config, error) {
	r := reader{getenv: getenv}
	c := Config{Service: s}
	c.Brokers = r.list("KAFKA_BOOTSTRAP_SERVERS", "cdc-platform-kafka-bootstrap.kafka.svc.cluster.local:9092")
	for _, b := range c.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			r.bad("KAFKA_BOOTSTRAP_SERVERS", fmt.Sprintf("%q is not host:port", b))
		}
	}
	c.GroupID = r.str("KAFKA_GROUP_ID", s.DefaultGroup)
	c.Topics = r.list("KAFKA_TOPICS", strings.Join(s.DefaultTopics, ","))
	if len(c.Topics) != len(s.DefaultTopics) {
		r.bad("KAFKA_TOPICS", fmt.Sprintf("needs %d topics (%s), got %d", len(s.DefaultTopics), strings.Join(s.DefaultTopics, ","), len(c.Topics)))
	}
	v := r.str("KAFKA_VERSION", "2.3.0")
	if kv, err := sarama.ParseKafkaVersion(v); err != nil {
		r.bad("KAFKA_VERSION", err.Error())
	} else {
		c.KafkaVersion = kv
	}
	c.ClientID = r.str("KAFKA_CLIENT_ID", s.Name)
	c.Replication = r.intRange("KAFKA_REPLICATION_FACTOR", 1, 1, 7)
	c.TLS = r.boolean("KAFKA_TLS", false)
	c.TLSCAFile = r.str("KAFKA_TLS_CA_FILE", "")
	c.TLSSkipVerify = r.boolean("KAFKA_TLS_INSECURE_SKIP_VERIFY", false)
	c.SASLMechanism = strings.ToUpper(r.str("KAFKA_SASL_MECHANISM", ""))
	switch c.SASLMechanism {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		r.bad("KAFKA_SASL_MECHANISM", fmt.Sprintf("%q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.SASLMechanism))
	}
	c.SASLUser = r.str("KAFKA_SASL_USERNAME", "")
	c.SASLPassword = r.str("KAFKA_SASL_PASSWORD", "")
	if c.SASLMechanism != "" && c.SASLUser == "" {
		r.bad("KAFKA_SASL_USERNAME", "required when KAFKA_SASL_MECHANISM is set")
	}

	c.AWSRegion = r.str("AWS_REGION", "us-east-1")
	c.AWSEndpoint = r.str("AWS_ENDPOINT_URL", "")
	c.DynamoTable = r.str("DYNAMODB_TABLE", s.DefaultTable)
	c.S3Bucket = r.str("S3_BUCKET", "")
	c.DLQS3Bucket = r.str("DLQ_S3_BUCKET", "")
	c.DLQTopic = r.str("DLQ_TOPIC", s.Name+"-dlq")
	c.FlushInterval = time.Duration(r.intRange("FLUSH_INTERVAL", 300, 1, 86400)) * time.Second

	c.LowStockThreshold = int64(r.intRange("LOW_STOCK_THRESHOLD", 10, 0, 1<<31-1))
	c.LowStockTopic = r.str("LOW_STOCK_TOPIC", "inventory.low-stock-alerts")
	c.PendingLimit = r.intRange("PENDING_LIMIT", 256, 1, 1<<20)

	c.HTTPAddr = r.str("HTTP_ADDR", ":8080")
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		r.bad("HTTP_ADDR", fmt.Sprintf("%q is not [host]:port", c.HTTPAddr))
	}
	c.StateDir = r.str("STATE_DIR", filepath.Join(os.TempDir(), "cdcflow", s.Name, c.GroupID))
	c.DecimalScale = int32(r.intRange("DECIMAL_SCALE", 2, 1, 18))
	c.UnavailablePlaceholder = r.str("UNAVAILABLE_VALUE_PLACEHOLDER", debezium.DefaultUnavailablePlaceholder)
	return c, r.err()
}

type reader struct {
	getenv func(string) (string, bool)
	errs   []error
}

func (r *reader) bad(name, why string) { r.errs = append(r.errs, fmt.Errorf("%s: %s", name, why)) }

func (r *reader) err() error {
	if len(r.errs) == 0 {
		return nil
	}
	return fmt.Errorf("invalid configuration: %w", errors.Join(r.errs...))
}

func (r *reader) str(name, def string) string {
	if v, ok := r.getenv(name); ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

func (r *reader) list(name, def string) []string {
	var out []string
	for _, p := range strings.Split(r.str(name, def), ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		r.bad(name, "empty list")
	}
	return out
}

func (r *reader) intRange(name string, def, lo, hi int) int {
	v, ok := r.getenv(name)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		r.bad(name, fmt.Sprintf("%q is not an integer", v))
		return def
	}
	if n < lo || n > hi {
		r.bad(name, fmt.Sprintf("%d is outside [%d, %d]", n, lo, hi))
		return def
	}
	return n
}

func (r *reader) boolean(name string, def bool) bool {
	v, ok := r.getenv(name)
	if !ok || strings.TrimSpace(v) == "" {
		return def
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		r.bad(name, fmt.Sprintf("%q is not a boolean", v))
		return def
	}
	return b
}
