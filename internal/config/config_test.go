package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestDefaultsFollowTheContract(t *testing.T) {
	c, err := Load(Inventory, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.GroupID != "inventory-service-group" || c.DynamoTable != "inventory-realtime" || c.DLQTopic != "inventory-service-dlq" ||
		c.LowStockThreshold != 10 || c.LowStockTopic != "inventory.low-stock-alerts" || c.FlushInterval != 300*time.Second ||
		c.HTTPAddr != ":8080" || c.AWSRegion != "us-east-1" || c.DecimalScale != 2 ||
		strings.Join(c.Topics, ",") != "dbserver1.public.products,dbserver1.public.order_items" ||
		strings.Join(c.Brokers, ",") != "cdc-platform-kafka-bootstrap.kafka.svc.cluster.local:9092" {
		t.Fatalf("defaults: %+v", c)
	}
	s, err := Load(Search, env(nil))
	if err != nil || s.DynamoTable != "product-search-index" || s.GroupID != "search-indexer-group" {
		t.Fatalf("search defaults: %+v %v", s, err)
	}
	a, err := Load(Analytics, env(nil))
	if err != nil || a.GroupID != "analytics-service-group" || a.S3Bucket != "" || a.DLQTopic != "analytics-service-dlq" {
		t.Fatalf("analytics defaults: %+v %v", a, err)
	}
}

func TestInvalidValuesAreNamed(t *testing.T) {
	_, err := Load(Analytics, env(map[string]string{
		"FLUSH_INTERVAL":          "soon",
		"LOW_STOCK_THRESHOLD":     "-1",
		"KAFKA_BOOTSTRAP_SERVERS": "kafka",
		"HTTP_ADDR":               "8080",
		"KAFKA_TOPICS":            "only-one",
		"KAFKA_SASL_MECHANISM":    "GSSAPI",
	}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, name := range []string{"FLUSH_INTERVAL", "LOW_STOCK_THRESHOLD", "KAFKA_BOOTSTRAP_SERVERS", "HTTP_ADDR", "KAFKA_TOPICS", "KAFKA_SASL_MECHANISM"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s: %v", name, err)
		}
	}
}

func TestOverrides(t *testing.T) {
	c, err := Load(Inventory, env(map[string]string{
		"KAFKA_BOOTSTRAP_SERVERS": "a:9092, b:9093", "KAFKA_GROUP_ID": "g", "FLUSH_INTERVAL": "5",
		"KAFKA_TOPICS": "x.public.products,x.public.order_items", "LOW_STOCK_THRESHOLD": "3",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Brokers) != 2 || c.Brokers[1] != "b:9093" || c.GroupID != "g" || c.FlushInterval != 5*time.Second ||
		c.Topics[0] != "x.public.products" || c.LowStockThreshold != 3 || c.DLQTopic != "inventory-service-dlq" {
		t.Fatalf("overrides: %+v", c)
	}
}

func TestInputTopicsByTable(t *testing.T) {
	for _, tc := range []struct {
		svc    Service
		topics string
		want   Inputs
	}{
		{Inventory, "", Inputs{Products: "dbserver1.public.products", OrderItems: "dbserver1.public.order_items"}},
		{Inventory, "shop.public.order_items,shop.public.products", Inputs{Products: "shop.public.products", OrderItems: "shop.public.order_items"}},
		{Analytics, "x.public.order_items,x.public.orders", Inputs{Orders: "x.public.orders", OrderItems: "x.public.order_items"}},
		// Names that do not reveal the table take the contract's order.
		{Analytics, "orders-v2,lines-v2", Inputs{Orders: "orders-v2", OrderItems: "lines-v2"}},
		{Inventory, "lines,x.products", Inputs{Products: "x.products", OrderItems: "lines"}},
		{Search, "catalogue", Inputs{Products: "catalogue"}},
	} {
		e := map[string]string{}
		if tc.topics != "" {
			e["KAFKA_TOPICS"] = tc.topics
		}
		c, err := Load(tc.svc, env(e))
		if err != nil {
			t.Errorf("%s %q: %v", tc.svc.Name, tc.topics, err)
			continue
		}
		if c.Inputs != tc.want {
			t.Errorf("%s %q: inputs %+v, want %+v", tc.svc.Name, tc.topics, c.Inputs, tc.want)
		}
	}
	for _, bad := range []string{"a.products,b.products", "a.products", "a.products,b.order_items,c.orders"} {
		_, err := Load(Inventory, env(map[string]string{"KAFKA_TOPICS": bad}))
		if err == nil || !strings.Contains(err.Error(), "KAFKA_TOPICS") {
			t.Errorf("KAFKA_TOPICS=%s: error %v, want one naming KAFKA_TOPICS", bad, err)
		}
	}
}

// FLUSH_INTERVAL takes the contract's whole seconds and Go durations.
func TestFlushIntervalForms(t *testing.T) {
	for v, want := range map[string]time.Duration{
		"300": 300 * time.Second, "5m": 5 * time.Minute, " 90s ": 90 * time.Second, "1h30m": 90 * time.Minute, "1": time.Second, "24h": 24 * time.Hour,
	} {
		c, err := Load(Inventory, func(k string) (string, bool) {
			if k == "FLUSH_INTERVAL" {
				return v, true
			}
			return "", false
		})
		if err != nil || c.FlushInterval != want {
			t.Errorf("FLUSH_INTERVAL=%q: %v, %v; want %v", v, c.FlushInterval, err, want)
		}
	}
	for _, v := range []string{"0", "500ms", "25h", "-5", "5 minutes", "1.5"} {
		_, err := Load(Inventory, func(k string) (string, bool) {
			if k == "FLUSH_INTERVAL" {
				return v, true
			}
			return "", false
		})
		if err == nil || !strings.Contains(err.Error(), "FLUSH_INTERVAL") {
			t.Errorf("FLUSH_INTERVAL=%q accepted (%v)", v, err)
		}
	}
}

// readNames returns every variable Load reads for s.
func readNames(s Service) []string {
	var names []string
	_, _ = Load(s, func(k string) (string, bool) { names = append(names, k); return "", false })
	return names
}

// An empty (or blank) value of any variable is an error naming it, never
// the default: DYNAMODB_TABLE= must not silently mean inventory-realtime.
func TestEmptyValuesAreErrors(t *testing.T) {
	for _, s := range []Service{Inventory, Analytics, Search} {
		names := readNames(s)
		if len(names) < 25 {
			t.Fatalf("%s: only %d variables read: %v", s.Name, len(names), names)
		}
		for _, name := range names {
			for _, v := range []string{"", "  "} {
				_, err := Load(s, env(map[string]string{name: v}))
				if err == nil || !strings.Contains(err.Error(), name+": set but empty") {
					t.Errorf("%s: %s=%q: error %v, want one naming %s as empty", s.Name, name, v, err, name)
				}
			}
		}
	}
	_, err := Load(Inventory, env(map[string]string{"DYNAMODB_TABLE": ""}))
	if err == nil || !strings.Contains(err.Error(), "DYNAMODB_TABLE") {
		t.Fatalf("DYNAMODB_TABLE= accepted: %v", err)
	}
}

// Every duration setting takes whole seconds and Go durations alike.
func TestDurationsTakeBothForms(t *testing.T) {
	for _, name := range []string{"FLUSH_INTERVAL"} {
		for v, want := range map[string]time.Duration{"60": time.Minute, "1m": time.Minute, "90s": 90 * time.Second} {
			c, err := Load(Analytics, env(map[string]string{name: v}))
			if err != nil {
				t.Fatalf("%s=%s: %v", name, v, err)
			}
			if got := map[string]time.Duration{"FLUSH_INTERVAL": c.FlushInterval}[name]; got != want {
				t.Errorf("%s=%s: %v, want %v", name, v, got, want)
			}
		}
	}
}

func TestOnEmptyState(t *testing.T) {
	c, err := Load(Search, env(nil))
	if err != nil || c.OnEmptyState != OnEmptyStateFail {
		t.Fatalf("default ON_EMPTY_STATE: %q, %v; want fail", c.OnEmptyState, err)
	}
	for v, want := range map[string]string{"reprocess": OnEmptyStateReprocess, "REPROCESS": OnEmptyStateReprocess, "fail": OnEmptyStateFail} {
		c, err := Load(Search, env(map[string]string{"ON_EMPTY_STATE": v}))
		if err != nil || c.OnEmptyState != want {
			t.Errorf("ON_EMPTY_STATE=%s: %q, %v", v, c.OnEmptyState, err)
		}
	}
	for _, v := range []string{"skip", "continue", "true"} {
		_, err := Load(Search, env(map[string]string{"ON_EMPTY_STATE": v}))
		if err == nil || !strings.Contains(err.Error(), "ON_EMPTY_STATE") {
			t.Errorf("ON_EMPTY_STATE=%s accepted: %v", v, err)
		}
	}
}

func TestLogLevel(t *testing.T) {
	for v, want := range map[string]slog.Level{"debug": slog.LevelDebug, "INFO": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError} {
		c, err := Load(Search, env(map[string]string{"LOG_LEVEL": v}))
		if err != nil || c.LogLevel != want {
			t.Errorf("LOG_LEVEL=%s: %v, %v", v, c.LogLevel, err)
		}
	}
	if c, _ := Load(Search, env(nil)); c.LogLevel != slog.LevelInfo {
		t.Errorf("default LOG_LEVEL %v", c.LogLevel)
	}
	if _, err := Load(Search, env(map[string]string{"LOG_LEVEL": "verbose"})); err == nil || !strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Errorf("LOG_LEVEL=verbose accepted: %v", err)
	}
}

func TestSchemaRegistry(t *testing.T) {
	c, err := Load(Inventory, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.SchemaRegistry.Enabled() || c.SchemaRegistry.Timeout != DefaultSchemaRegistryTimeout {
		t.Fatalf("default: %+v", c.SchemaRegistry)
	}
	c, err = Load(Inventory, env(map[string]string{
		"SCHEMA_REGISTRY_URL":      "https://sr-1:8081, http://sr-2:8081/base",
		"SCHEMA_REGISTRY_USERNAME": "svc", "SCHEMA_REGISTRY_PASSWORD": "s3cret:x",
		"SCHEMA_REGISTRY_CA_FILE": "/etc/sr/ca.pem", "SCHEMA_REGISTRY_TIMEOUT": "2500ms",
	}))
	if err != nil {
		t.Fatal(err)
	}
	sr := c.SchemaRegistry
	if !sr.Enabled() || strings.Join(sr.URLs, " ") != "https://sr-1:8081 http://sr-2:8081/base" || sr.Username != "svc" ||
		sr.Password != "s3cret:x" || sr.CAFile != "/etc/sr/ca.pem" || sr.Timeout != 2500*time.Millisecond {
		t.Fatalf("set: %+v", sr)
	}
	// Confluent's basic.auth.user.info form: the password may hold colons.
	c, err = Load(Inventory, env(map[string]string{"SCHEMA_REGISTRY_URL": "http://sr:8081", "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "key:sec:ret", "SCHEMA_REGISTRY_TIMEOUT": "3"}))
	if err != nil || c.SchemaRegistry.Username != "key" || c.SchemaRegistry.Password != "sec:ret" || c.SchemaRegistry.Timeout != 3*time.Second {
		t.Fatalf("user info: %+v %v", c.SchemaRegistry, err)
	}
}

func TestSchemaRegistryInvalid(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		name string // the variable the error must name
	}{
		{map[string]string{"SCHEMA_REGISTRY_URL": ""}, "SCHEMA_REGISTRY_URL"},
		{map[string]string{"SCHEMA_REGISTRY_URL": " , "}, "SCHEMA_REGISTRY_URL"},
		{map[string]string{"SCHEMA_REGISTRY_URL": "sr:8081"}, "SCHEMA_REGISTRY_URL"},
		{map[string]string{"SCHEMA_REGISTRY_URL": "ftp://sr:8081"}, "SCHEMA_REGISTRY_URL"},
		{map[string]string{"SCHEMA_REGISTRY_URL": "http://u:p@sr:8081"}, "SCHEMA_REGISTRY_URL"},
		{map[string]string{"SCHEMA_REGISTRY_URL": "http://sr:8081", "SCHEMA_REGISTRY_USERNAME": "u"}, "SCHEMA_REGISTRY_PASSWORD"},
		{map[string]string{"SCHEMA_REGISTRY_URL": "http://sr:8081", "SCHEMA_REGISTRY_PASSWORD": "p"}, "SCHEMA_REGISTRY_USERNAME"},
		{map[string]string{"SCHEMA_REGISTRY_URL": "http://sr:8081", "SCHEMA_REGISTRY_PASSWORD": ""}, "SCHEMA_REGISTRY_PASSWORD"},
		{map[string]string{"SCHEMA_REGISTRY_URL": "http://sr:8081", "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "nocolon"}, "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"},
		{map[string]string{"SCHEMA_REGISTRY_URL": "http://sr:8081", "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "a:b", "SCHEMA_REGISTRY_USERNAME": "a"}, "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"},
		{map[string]string{"SCHEMA_REGISTRY_URL": "http://sr:8081", "SCHEMA_REGISTRY_CA_FILE": " "}, "SCHEMA_REGISTRY_CA_FILE"},
		{map[string]string{"SCHEMA_REGISTRY_URL": "http://sr:8081", "SCHEMA_REGISTRY_TIMEOUT": "0"}, "SCHEMA_REGISTRY_TIMEOUT"},
		{map[string]string{"SCHEMA_REGISTRY_URL": "http://sr:8081", "SCHEMA_REGISTRY_TIMEOUT": "soon"}, "SCHEMA_REGISTRY_TIMEOUT"},
		// Settings of a registry without a registry are a mistake.
		{map[string]string{"SCHEMA_REGISTRY_USERNAME": "u", "SCHEMA_REGISTRY_PASSWORD": "p"}, "SCHEMA_REGISTRY_USERNAME"},
		{map[string]string{"SCHEMA_REGISTRY_CA_FILE": "/ca.pem"}, "SCHEMA_REGISTRY_CA_FILE"},
	} {
		_, err := Load(Inventory, env(tc.env))
		if err == nil || !strings.Contains(err.Error(), tc.name+":") {
			t.Errorf("%v: error %v does not name %s", tc.env, err, tc.name)
		}
		if err != nil && strings.Contains(err.Error(), "nocolon") {
			t.Errorf("the user info (a secret) is echoed: %v", err)
		}
	}
}
