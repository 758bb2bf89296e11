// Package config reads a service's settings from the environment once, at
// start, and validates them; an invalid value stops the service with an
// error naming the variable (CONTRACT section 5).
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
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
	Tables        []string // the source tables it consumes, one input topic each
	DefaultTopics []string // KAFKA_TOPICS default, in the order of Tables
	DefaultTable  string   // DYNAMODB_TABLE default, "" when the service has no table
}

// Source tables of the shop's database.
const (
	TableProducts   = "products"
	TableOrders     = "orders"
	TableOrderItems = "order_items"
)

// DefaultTopicPrefix is the Debezium topic prefix of the contract: topics
// are named <prefix><table>.
const DefaultTopicPrefix = "dbserver1.public."

func newService(name, dynamoTable string, tables ...string) Service {
	s := Service{Name: name, DefaultGroup: name + "-group", Tables: tables, DefaultTable: dynamoTable}
	for _, t := range tables {
		s.DefaultTopics = append(s.DefaultTopics, DefaultTopicPrefix+t)
	}
	return s
}

// The three services of the contract.
var (
	Inventory = newService("inventory-service", "inventory-realtime", TableProducts, TableOrderItems)
	Analytics = newService("analytics-service", "", TableOrders, TableOrderItems)
	Search    = newService("search-indexer", "product-search-index", TableProducts)
)

// Inputs names a service's input topic per source table ("" for a table the
// service does not read).
type Inputs struct {
	Products   string
	Orders     string
	OrderItems string
}

func (in *Inputs) set(table, topic string) {
	switch table {
	case TableProducts:
		in.Products = topic
	case TableOrders:
		in.Orders = topic
	case TableOrderItems:
		in.OrderItems = topic
	}
}

// Config is a service's validated configuration.
type Config struct {
	Service Service

	Brokers       []string
	GroupID       string
	Topics        []string // KAFKA_TOPICS as given
	Inputs        Inputs   // the same topics by the table each carries
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
	// LagInterval (CONSUMER_LAG_INTERVAL) is how often consumer_lag is read
	// from the brokers.
	LagInterval time.Duration

	LowStockThreshold int64
	LowStockTopic     string
	PendingLimit      int

	HTTPAddr     string
	StateDir     string
	DecimalScale int32
	// UnavailablePlaceholder is the connector's unavailable.value.placeholder
	// (UNAVAILABLE_VALUE_PLACEHOLDER): the text of an unchanged TOASTed value.
	UnavailablePlaceholder string

	// OnEmptyState (ON_EMPTY_STATE) is what to do at start when the group
	// has committed input offsets but its group table is empty or missing
	// (the Python services' group ids are the defaults, and their offsets
	// would make this service skip the snapshot and the history):
	// OnEmptyStateFail stops the service, OnEmptyStateReprocess re-reads
	// the inputs from the start.
	OnEmptyState string
	// LogLevel (LOG_LEVEL) is the lowest level logged: debug, info, warn,
	// error. Kafka clients' routine lines are at debug.
	LogLevel slog.Level

	// SchemaRegistry is where Confluent-framed (AvroConverter) records find
	// their schemas; its URLs are empty when SCHEMA_REGISTRY_URL is unset.
	SchemaRegistry SchemaRegistry
}

// SchemaRegistry is the Confluent Schema Registry client's configuration.
type SchemaRegistry struct {
	// URLs (SCHEMA_REGISTRY_URL, comma separated) are the registry's
	// base URLs, http or https, tried in order on connection errors.
	// Empty: no registry; a Confluent-framed record goes to the dead-letter
	// topic.
	URLs []string
	// Username and Password are HTTP basic auth credentials:
	// SCHEMA_REGISTRY_USERNAME and SCHEMA_REGISTRY_PASSWORD, or
	// SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO ("user:password", the form of the
	// converter's basic.auth.user.info), not both.
	Username string
	Password string
	// CAFile (SCHEMA_REGISTRY_CA_FILE) is a PEM file of the CAs that sign
	// the registry's certificate; empty: the system's roots.
	CAFile string
	// Timeout (SCHEMA_REGISTRY_TIMEOUT) bounds one request.
	Timeout time.Duration
}

// Enabled reports whether SCHEMA_REGISTRY_URL is set.
func (s SchemaRegistry) Enabled() bool { return len(s.URLs) > 0 }

// DefaultSchemaRegistryTimeout is SCHEMA_REGISTRY_TIMEOUT's default.
const DefaultSchemaRegistryTimeout = 10 * time.Second

// The values of ON_EMPTY_STATE.
const (
	OnEmptyStateFail      = "fail"
	OnEmptyStateReprocess = "reprocess"
)

// DefaultLagInterval is CONSUMER_LAG_INTERVAL's default.
const DefaultLagInterval = 15 * time.Second

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
	if in, err := resolveInputs(s.Tables, c.Topics); err != nil {
		r.bad("KAFKA_TOPICS", err.Error())
	} else {
		c.Inputs = in
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
	c.FlushInterval = r.seconds("FLUSH_INTERVAL", 300*time.Second, time.Second, 24*time.Hour)
	c.LagInterval = r.seconds("CONSUMER_LAG_INTERVAL", DefaultLagInterval, 100*time.Millisecond, time.Hour)

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
	c.OnEmptyState = strings.ToLower(r.str("ON_EMPTY_STATE", OnEmptyStateFail))
	switch c.OnEmptyState {
	case OnEmptyStateFail, OnEmptyStateReprocess:
	default:
		r.bad("ON_EMPTY_STATE", fmt.Sprintf("%q is not %s or %s", c.OnEmptyState, OnEmptyStateFail, OnEmptyStateReprocess))
	}
	if v := r.str("LOG_LEVEL", "info"); c.LogLevel.UnmarshalText([]byte(v)) != nil {
		r.bad("LOG_LEVEL", fmt.Sprintf("%q is not debug, info, warn or error", v))
	}
	c.SchemaRegistry = r.schemaRegistry()
	return c, r.err()
}

// schemaRegistry reads the SCHEMA_REGISTRY_* settings.
func (r *reader) schemaRegistry() SchemaRegistry {
	var s SchemaRegistry
	s.URLs = r.list("SCHEMA_REGISTRY_URL", "")
	for _, u := range s.URLs {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" || p.User != nil || p.RawQuery != "" || p.Fragment != "" {
			r.bad("SCHEMA_REGISTRY_URL", fmt.Sprintf("%q is not an http:// or https:// URL without credentials, query or fragment", u))
		}
	}
	s.Username = r.str("SCHEMA_REGISTRY_USERNAME", "")
	s.Password = r.str("SCHEMA_REGISTRY_PASSWORD", "")
	if info := r.str("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", ""); info != "" {
		user, pass, ok := strings.Cut(info, ":")
		switch {
		case s.Username != "" || s.Password != "":
			r.bad("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "set together with SCHEMA_REGISTRY_USERNAME/SCHEMA_REGISTRY_PASSWORD; use one form")
		case !ok || user == "":
			r.bad("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "is not user:password") // the value is a secret: not echoed
		default:
			s.Username, s.Password = user, pass
		}
	}
	if s.Password != "" && s.Username == "" {
		r.bad("SCHEMA_REGISTRY_USERNAME", "required when SCHEMA_REGISTRY_PASSWORD is set")
	}
	if s.Username != "" && s.Password == "" {
		r.bad("SCHEMA_REGISTRY_PASSWORD", "required when SCHEMA_REGISTRY_USERNAME is set")
	}
	s.CAFile = r.str("SCHEMA_REGISTRY_CA_FILE", "")
	s.Timeout = r.seconds("SCHEMA_REGISTRY_TIMEOUT", DefaultSchemaRegistryTimeout, 100*time.Millisecond, 5*time.Minute)
	if !s.Enabled() {
		for _, name := range []string{"SCHEMA_REGISTRY_USERNAME", "SCHEMA_REGISTRY_PASSWORD", "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "SCHEMA_REGISTRY_CA_FILE", "SCHEMA_REGISTRY_TIMEOUT"} {
			if _, set := r.getenv(name); set {
				r.bad(name, "set without SCHEMA_REGISTRY_URL")
			}
		}
	}
	return s
}

// resolveInputs assigns each topic to the table it carries: a topic whose
// last dot-separated segment names one of tables carries that table (so the
// list may be in any order); topics with other names take the remaining
// tables in the order of tables.
func resolveInputs(tables, topics []string) (Inputs, error) {
	if len(topics) != len(tables) {
		return Inputs{}, fmt.Errorf("needs %d topics, one for each of the tables %s; got %d", len(tables), strings.Join(tables, ", "), len(topics))
	}
	byTable := map[string]string{}
	var unnamed []string
	for _, t := range topics {
		table := t[strings.LastIndexByte(t, '.')+1:]
		if !slices.Contains(tables, table) {
			unnamed = append(unnamed, t)
			continue
		}
		if prev, dup := byTable[table]; dup {
			return Inputs{}, fmt.Errorf("%q and %q both name table %s", prev, t, table)
		}
		byTable[table] = t
	}
	var in Inputs
	for _, table := range tables {
		t, ok := byTable[table]
		if !ok {
			t, unnamed = unnamed[0], unnamed[1:]
		}
		in.set(table, t)
	}
	return in, nil
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

// lookup returns the trimmed value of name and whether it is set. A
// variable set to an empty (or blank) value is an error naming it: an
// operator who writes DYNAMODB_TABLE= means something, and silently taking
// the default instead is how a deployment ends up writing somewhere else.
// Unset the variable to get the default.
func (r *reader) lookup(name string) (string, bool) {
	v, ok := r.getenv(name)
	if !ok {
		return "", false
	}
	if v = strings.TrimSpace(v); v == "" {
		r.bad(name, "set but empty; unset it to use the default")
		return "", false
	}
	return v, true
}

func (r *reader) str(name, def string) string {
	if v, ok := r.lookup(name); ok {
		return v
	}
	return def
}

func (r *reader) list(name, def string) []string {
	v, ok := r.lookup(name)
	if !ok {
		v = def
	}
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	if len(out) == 0 && ok {
		r.bad(name, "empty list")
	}
	return out
}

func (r *reader) intRange(name string, def, lo, hi int) int {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
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

// seconds reads a duration given as whole seconds ("300", the contract's
// form) or as a Go duration ("5m", "90s", "1h30m"), within [lo, hi]. Every
// duration setting is read with it.
func (r *reader) seconds(name string, def, lo, hi time.Duration) time.Duration {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(v)
	if n, nerr := strconv.Atoi(v); nerr == nil {
		d, err = time.Duration(n)*time.Second, nil
	}
	if err != nil {
		r.bad(name, fmt.Sprintf("%q is neither whole seconds nor a duration like 5m", v))
		return def
	}
	if d < lo || d > hi {
		r.bad(name, fmt.Sprintf("%v is outside [%v, %v]", d, lo, hi))
		return def
	}
	return d
}

func (r *reader) boolean(name string, def bool) bool {
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.bad(name, fmt.Sprintf("%q is not a boolean", v))
		return def
	}
	return b
}
