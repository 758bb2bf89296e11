package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/views/httpapi"
)

// Paths relative to this package's directory (go test's working directory).
const (
	repoRoot      = "../.."
	composePath   = repoRoot + "/docker-compose.yml"
	dockerfile    = repoRoot + "/Dockerfile"
	initSQLPath   = repoRoot + "/deploy/postgres/init.sql"
	connectorPath = repoRoot + "/deploy/debezium/connector.json"
	// contractPath is shared/CONTRACT.md, which sits beside the repository.
	contractPath = repoRoot + "/../shared/CONTRACT.md"
	goModPath    = repoRoot + "/go.mod"
	promPath     = repoRoot + "/deploy/prometheus/prometheus.yml"
	grafanaDir   = repoRoot + "/deploy/grafana"
)

// contractSettings are the environment variable names of CONTRACT section 5
// (a copy, checked against the contract itself by TestContractSettingsCopy).
var contractSettings = []string{
	"AWS_ENDPOINT_URL",
	"AWS_ENDPOINT_URL_DYNAMODB",
	"AWS_ENDPOINT_URL_S3",
	"AWS_REGION",
	"DLQ_S3_BUCKET",
	"DLQ_TOPIC",
	"DYNAMODB_TABLE",
	"FLUSH_INTERVAL",
	"HTTP_ADDR",
	"KAFKA_BOOTSTRAP_SERVERS",
	"KAFKA_GROUP_ID",
	"KAFKA_TOPICS",
	"LOW_STOCK_THRESHOLD",
	"LOW_STOCK_TOPIC",
	"S3_BUCKET",
	"STATE_DIR",
}

// extraAllowedEnv are the other names a service may be given: the AWS SDK's
// credentials, and DECIMAL_SCALE, the setting CONTRACT section 1 names.
var extraAllowedEnv = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "DECIMAL_SCALE"}

// cdcService is what the contract fixes for each of the three consumers.
type cdcService struct {
	name     string
	group    string
	topics   []string
	env      map[string]string // further required values
	hostPort string
}

var cdcServices = []cdcService{
	{
		name:     "inventory-service",
		group:    "inventory-service-group",
		topics:   []string{"dbserver1.public.products", "dbserver1.public.order_items"},
		env:      map[string]string{"DYNAMODB_TABLE": "inventory-realtime"},
		hostPort: "8081",
	},
	{
		name:     "analytics-service",
		group:    "analytics-service-group",
		topics:   []string{"dbserver1.public.orders", "dbserver1.public.order_items"},
		env:      map[string]string{"S3_BUCKET": "analytics"},
		hostPort: "8082",
	},
	{
		name:     "search-indexer",
		group:    "search-indexer-group",
		topics:   []string{"dbserver1.public.products"},
		env:      map[string]string{"DYNAMODB_TABLE": "product-search-index"},
		hostPort: "8083",
	},
}

// composeFile is the part of a Compose file the tests read. Fields that
// Compose accepts in several shapes stay untyped and go through the helpers.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"` // the named volumes
}

type composeService struct {
	Image       string         `yaml:"image"`
	Build       any            `yaml:"build"`
	Command     any            `yaml:"command"`
	Entrypoint  any            `yaml:"entrypoint"`
	Environment any            `yaml:"environment"`
	Ports       []any          `yaml:"ports"`
	Volumes     []any          `yaml:"volumes"`
	DependsOn   any            `yaml:"depends_on"`
	Healthcheck map[string]any `yaml:"healthcheck"`
}

func loadCompose(t *testing.T) composeFile {
	t.Helper()
	raw, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatalf("read compose file: %v", err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(raw, &cf); err != nil {
		t.Fatalf("parse %s: %v", composePath, err)
	}
	return cf
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return string(b)
}

// stringList flattens a Compose string-or-list field.
func stringList(v any) []string {
	switch v := v.(type) {
	case nil:
		return nil
	case string:
		return []string{v}
	case []any:
		out := make([]string, 0, len(v))
		for _, e := range v {
			out = append(out, fmt.Sprint(e))
		}
		return out
	default:
		return []string{fmt.Sprint(v)}
	}
}

// environment returns a service's environment, given as a map or as a list
// of NAME=value.
func environment(t *testing.T, svc string, v any) map[string]string {
	t.Helper()
	env := make(map[string]string)
	switch v := v.(type) {
	case nil:
	case map[string]any:
		for k, val := range v {
			if val == nil {
				env[k] = ""
				continue
			}
			env[k] = fmt.Sprint(val)
		}
	case []any:
		for _, e := range v {
			name, val, _ := strings.Cut(fmt.Sprint(e), "=")
			env[name] = val
		}
	default:
		t.Fatalf("service %s: environment has unexpected shape %T", svc, v)
	}
	return env
}

// dependsOn returns the services a service depends on, with their conditions
// ("" for the short list form).
func dependsOn(v any) map[string]string {
	deps := make(map[string]string)
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			deps[fmt.Sprint(e)] = ""
		}
	case map[string]any:
		for name, spec := range v {
			cond := ""
			if m, ok := spec.(map[string]any); ok {
				cond = fmt.Sprint(m["condition"])
			}
			deps[name] = cond
		}
	}
	return deps
}

// build returns a service's build context and Dockerfile ("" when no build).
func build(v any) (context, file string) {
	switch v := v.(type) {
	case string:
		return v, "Dockerfile"
	case map[string]any:
		context = fmt.Sprint(v["context"])
		file = "Dockerfile"
		if f, ok := v["dockerfile"]; ok {
			file = fmt.Sprint(f)
		}
		return context, file
	}
	return "", ""
}

func TestComposeHasAllServices(t *testing.T) {
	cf := loadCompose(t)
	want := []string{"kafka", "postgres", "connect", "register-connector", "localstack",
		"inventory-service", "analytics-service", "search-indexer"}
	for _, name := range want {
		if _, ok := cf.Services[name]; !ok {
			t.Errorf("docker-compose.yml has no service %q (has %v)", name, slices.Sorted(maps.Keys(cf.Services)))
		}
	}
}

func TestComposeInfrastructure(t *testing.T) {
	cf := loadCompose(t)

	pg := cf.Services["postgres"]
	if !strings.Contains(strings.Join(stringList(pg.Command), " "), "wal_level=logical") {
		t.Errorf("postgres command %v does not set wal_level=logical (Debezium needs logical decoding)", pg.Command)
	}
	if !slices.ContainsFunc(stringList(pg.Volumes), func(v string) bool {
		return strings.Contains(v, "deploy/postgres/init.sql") && strings.Contains(v, "/docker-entrypoint-initdb.d")
	}) {
		t.Errorf("postgres does not mount deploy/postgres/init.sql into /docker-entrypoint-initdb.d: %v", pg.Volumes)
	}
	pgEnv := environment(t, "postgres", pg.Environment)

	connect := cf.Services["connect"]
	if !strings.HasPrefix(connect.Image, "quay.io/debezium/connect:") {
		t.Errorf("connect image %q, want quay.io/debezium/connect", connect.Image)
	}
	if got := environment(t, "connect", connect.Environment)["BOOTSTRAP_SERVERS"]; !strings.HasPrefix(got, "kafka:") {
		t.Errorf("connect BOOTSTRAP_SERVERS = %q, want the kafka service", got)
	}

	reg := cf.Services["register-connector"]
	if !slices.ContainsFunc(stringList(reg.Volumes), func(v string) bool { return strings.Contains(v, "deploy/debezium/connector.json") }) {
		t.Errorf("register-connector does not mount deploy/debezium/connector.json: %v", reg.Volumes)
	}
	script := strings.Join(append(stringList(reg.Entrypoint), stringList(reg.Command)...), " ")
	if !strings.Contains(script, "POST") || !strings.Contains(script, "connect:8083/connectors") {
		t.Errorf("register-connector does not POST to http://connect:8083/connectors: %q", script)
	}
	if dependsOn(reg.DependsOn)["connect"] == "" {
		t.Errorf("register-connector must wait for connect with a condition, depends_on = %v", reg.DependsOn)
	}

	ls := cf.Services["localstack"]
	lsEnv := environment(t, "localstack", ls.Environment)
	for _, svc := range []string{"dynamodb", "s3"} {
		if !slices.Contains(strings.Split(lsEnv["SERVICES"], ","), svc) {
			t.Errorf("localstack SERVICES = %q lacks %s", lsEnv["SERVICES"], svc)
		}
	}
	if !strings.Contains(fmt.Sprint(ls.Healthcheck["test"]), "s3 mb s3://analytics") {
		t.Errorf("localstack does not create the analytics bucket: healthcheck %v", ls.Healthcheck["test"])
	}

	for _, name := range []string{"kafka", "postgres", "connect", "localstack"} {
		if len(stringList(cf.Services[name].Healthcheck["test"])) == 0 {
			t.Errorf("service %s has no healthcheck test (the services wait on it)", name)
		}
	}

	// The connector reads the database that postgres creates.
	connector := loadConnector(t)
	if pgEnv["POSTGRES_DB"] != connector["database.dbname"] {
		t.Errorf("postgres POSTGRES_DB %q differs from the connector's database.dbname %q", pgEnv["POSTGRES_DB"], connector["database.dbname"])
	}
}

func TestComposeCDCServices(t *testing.T) {
	cf := loadCompose(t)
	hostPorts := make(map[string]string)
	for _, want := range cdcServices {
		t.Run(want.name, func(t *testing.T) {
			svc, ok := cf.Services[want.name]
			if !ok {
				t.Fatalf("no service %s", want.name)
			}
			ctx, file := build(svc.Build)
			if ctx == "" {
				t.Fatalf("%s is not built (build: %v)", want.name, svc.Build)
			}
			if got := filepath.Clean(filepath.Join(repoRoot, ctx, file)); got != filepath.Clean(dockerfile) {
				t.Errorf("%s builds from %s, want the repository's Dockerfile", want.name, got)
			}
			cmd := stringList(svc.Command)
			if len(cmd) == 0 || filepath.Base(strings.Fields(cmd[0])[0]) != want.name {
				t.Errorf("%s command %v does not run the %s binary", want.name, svc.Command, want.name)
			}

			env := environment(t, want.name, svc.Environment)
			required := map[string]string{
				"KAFKA_GROUP_ID": want.group,
				"KAFKA_TOPICS":   strings.Join(want.topics, ","),
				"AWS_REGION":     "us-east-1",
			}
			maps.Copy(required, want.env)
			for name, value := range required {
				if got, ok := env[name]; !ok || got != value {
					t.Errorf("%s: %s = %q (set %v), want %q", want.name, name, got, ok, value)
				}
			}
			for _, name := range []string{"KAFKA_BOOTSTRAP_SERVERS", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "HTTP_ADDR"} {
				if env[name] == "" {
					t.Errorf("%s: %s is not set", want.name, name)
				}
			}
			if !strings.HasPrefix(env["KAFKA_BOOTSTRAP_SERVERS"], "kafka:") {
				t.Errorf("%s: KAFKA_BOOTSTRAP_SERVERS = %q, want the kafka service", want.name, env["KAFKA_BOOTSTRAP_SERVERS"])
			}
			if !strings.Contains(env["AWS_ENDPOINT_URL"], "localstack:4566") {
				t.Errorf("%s: AWS_ENDPOINT_URL = %q, want the localstack service", want.name, env["AWS_ENDPOINT_URL"])
			}

			allowed := allowedEnv()
			for name := range env {
				if !allowed[name] {
					t.Errorf("%s: environment variable %s is not a CONTRACT section 5 setting", want.name, name)
				}
			}

			deps := dependsOn(svc.DependsOn)
			for _, dep := range []string{"kafka", "localstack"} {
				if cond := deps[dep]; cond != "service_healthy" {
					t.Errorf("%s: depends_on %s with condition %q, want service_healthy", want.name, dep, cond)
				}
			}

			_, containerPort, _ := strings.Cut(strings.TrimPrefix(env["HTTP_ADDR"], "0.0.0.0"), ":")
			var published []string
			for _, p := range svc.Ports {
				s := fmt.Sprint(p)
				if host, container, ok := strings.Cut(s, ":"); ok && container == containerPort {
					published = append(published, host)
				}
			}
			if !slices.Contains(published, want.hostPort) {
				t.Errorf("%s publishes HTTP_ADDR's port %s on host ports %v, want %s", want.name, containerPort, published, want.hostPort)
			}
			for _, hp := range published {
				if other, dup := hostPorts[hp]; dup {
					t.Errorf("host port %s used by both %s and %s", hp, other, want.name)
				}
				hostPorts[hp] = want.name
			}
		})
	}
	// No other service may take the services' host ports.
	for name, svc := range cf.Services {
		if slices.ContainsFunc(cdcServices, func(c cdcService) bool { return c.name == name }) {
			continue
		}
		for _, p := range svc.Ports {
			host, _, _ := strings.Cut(fmt.Sprint(p), ":")
			if owner, taken := hostPorts[host]; taken {
				t.Errorf("service %s publishes host port %s, which %s uses", name, host, owner)
			}
		}
	}
}

// allowedEnv is the set of names a CDC service's environment may use.
func allowedEnv() map[string]bool {
	allowed := make(map[string]bool)
	for _, n := range contractSettings {
		allowed[n] = true
	}
	for _, n := range extraAllowedEnv {
		allowed[n] = true
	}
	return allowed
}

// settingName matches a whole backticked environment variable name.
var settingName = regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")

// TestContractSettingsCopy keeps contractSettings equal to the names in the
// settings table of CONTRACT section 5, when the contract is beside the
// repository (as in CI and on the developers' machines).
func TestContractSettingsCopy(t *testing.T) {
	raw, err := os.ReadFile(contractPath)
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("%s not present: cannot compare with the contract", contractPath)
	}
	if err != nil {
		t.Fatalf("read contract: %v", err)
	}
	text := string(raw)
	start := strings.Index(text, "\n## 5.")
	if start < 0 {
		t.Fatal("CONTRACT.md has no section 5")
	}
	section := text[start+1:]
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	found := make(map[string]bool)
	for line := range strings.SplitSeq(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		first := strings.SplitN(line, "|", 3)[1] // the variable column
		for _, m := range settingName.FindAllStringSubmatch(first, -1) {
			found[m[1]] = true
		}
	}
	got := slices.Sorted(maps.Keys(found))
	want := slices.Sorted(slices.Values(contractSettings))
	if !slices.Equal(got, want) {
		t.Fatalf("CONTRACT section 5 names %v, the test's copy %v: update contractSettings", got, want)
	}
}

func loadConnector(t *testing.T) map[string]string {
	t.Helper()
	var doc struct {
		Name   string            `json:"name"`
		Config map[string]string `json:"config"`
	}
	if err := json.Unmarshal([]byte(readFile(t, connectorPath)), &doc); err != nil {
		t.Fatalf("parse %s: %v", connectorPath, err)
	}
	if doc.Name == "" || len(doc.Config) == 0 {
		t.Fatalf("%s must be {\"name\":…,\"config\":{…}} for POST /connectors", connectorPath)
	}
	return doc.Config
}

func TestConnectorConfig(t *testing.T) {
	cfg := loadConnector(t)
	want := map[string]string{
		"connector.class":                "io.debezium.connector.postgresql.PostgresConnector",
		"plugin.name":                    "pgoutput",
		"topic.prefix":                   "dbserver1",
		"database.dbname":                "ecommerce",
		"database.hostname":              "postgres",
		"decimal.handling.mode":          "precise",
		"snapshot.mode":                  "initial",
		"key.converter":                  "org.apache.kafka.connect.json.JsonConverter",
		"value.converter":                "org.apache.kafka.connect.json.JsonConverter",
		"key.converter.schemas.enable":   "true",
		"value.converter.schemas.enable": "true",
	}
	for k, v := range want {
		if cfg[k] != v {
			t.Errorf("connector %s = %q, want %q", k, cfg[k], v)
		}
	}
	var tables []string
	for tbl := range strings.SplitSeq(cfg["table.include.list"], ",") {
		tables = append(tables, strings.TrimSpace(tbl))
	}
	slices.Sort(tables)
	if wantTables := []string{"public.order_items", "public.orders", "public.products"}; !slices.Equal(tables, wantTables) {
		t.Errorf("connector table.include.list = %v, want %v", tables, wantTables)
	}
}

// contractColumns is CONTRACT section 1's table of columns and types.
var contractColumns = map[string][][2]string{
	"products": {
		{"id", "SERIAL PRIMARY KEY"}, {"name", "VARCHAR(255) NOT NULL"}, {"description", "TEXT"},
		{"price", "DECIMAL(10,2) NOT NULL"}, {"stock_quantity", "INTEGER NOT NULL"},
		{"created_at", "TIMESTAMP"}, {"updated_at", "TIMESTAMP"},
	},
	"orders": {
		{"id", "SERIAL PRIMARY KEY"}, {"customer_id", "INTEGER NOT NULL"}, {"total_amount", "DECIMAL(10,2) NOT NULL"},
		{"status", "VARCHAR(50) NOT NULL"}, {"created_at", "TIMESTAMP"}, {"updated_at", "TIMESTAMP"},
	},
	"order_items": {
		{"id", "SERIAL PRIMARY KEY"}, {"order_id", "INTEGER"}, {"product_id", "INTEGER"},
		{"quantity", "INTEGER NOT NULL"}, {"price", "DECIMAL(10,2) NOT NULL"}, {"created_at", "TIMESTAMP"},
	},
}

var (
	sqlComment = regexp.MustCompile(`--[^\n]*`)
	spaces     = regexp.MustCompile(`\s+`)
)

// normalizeSQL drops comments, folds whitespace and upper-cases everything
// (the tests compare case-insensitively).
func normalizeSQL(s string) string {
	s = sqlComment.ReplaceAllString(s, "")
	s = spaces.ReplaceAllString(s, " ")
	return strings.ToUpper(s)
}

// splitTopLevel splits s at the commas outside parentheses and quotes, and
// trims the parts.
func splitTopLevel(s string) []string {
	var parts []string
	depth, quoted, start := 0, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == ',' && depth == 0:
			parts = append(parts, strings.TrimSpace(s[start:i]))
			start = i + 1
		}
	}
	return append(parts, strings.TrimSpace(s[start:]))
}

// parenthesized returns the text inside the parenthesis opening at s[open],
// honouring nesting and quotes, and the index just after its closing one.
func parenthesized(t *testing.T, s string, open int) (string, int) {
	t.Helper()
	depth, quoted := 0, false
	for i := open; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\'':
			quoted = !quoted
		case quoted:
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return s[open+1 : i], i + 1
			}
		}
	}
	t.Fatalf("unbalanced parenthesis in %q", s[open:])
	return "", 0
}

// columnDefs returns the column definitions of CREATE TABLE name, keyed by
// column name.
func columnDefs(t *testing.T, sql, name string) map[string]string {
	t.Helper()
	re := regexp.MustCompile(`CREATE TABLE (IF NOT EXISTS )?(PUBLIC\.)?` + strings.ToUpper(name) + ` ?\(`)
	loc := re.FindStringIndex(sql)
	if loc == nil {
		t.Fatalf("init.sql does not create table %s", name)
	}
	body, _ := parenthesized(t, sql, loc[1]-1)
	defs := make(map[string]string)
	for _, def := range splitTopLevel(body) {
		col, rest, _ := strings.Cut(def, " ")
		defs[col] = strings.ReplaceAll(rest, ", ", ",")
	}
	return defs
}

func TestInitSQLSchema(t *testing.T) {
	sql := normalizeSQL(readFile(t, initSQLPath))
	for table, cols := range contractColumns {
		defs := columnDefs(t, sql, table)
		for _, c := range cols {
			got, ok := defs[strings.ToUpper(c[0])]
			if !ok {
				t.Errorf("table %s has no column %s", table, c[0])
				continue
			}
			if !strings.HasPrefix(got, c[1]) {
				t.Errorf("table %s column %s is %q, want %q", table, c[0], got, c[1])
			}
		}
		if !regexp.MustCompile(`ALTER TABLE (ONLY )?(PUBLIC\.)?` + strings.ToUpper(table) + ` REPLICA IDENTITY FULL`).MatchString(sql) {
			t.Errorf("init.sql does not set REPLICA IDENTITY FULL on %s", table)
		}
	}
}

// insertRows returns the rows of the INSERT INTO table (columns) VALUES
// statement, each keyed by column name (string literals keep their quotes).
func insertRows(t *testing.T, sql, table string) []map[string]string {
	t.Helper()
	re := regexp.MustCompile(`INSERT INTO (PUBLIC\.)?` + strings.ToUpper(table) + ` ?\(([^)]*)\) VALUES`)
	m := re.FindStringSubmatchIndex(sql)
	if m == nil {
		t.Fatalf("init.sql does not seed %s", table)
	}
	columns := splitTopLevel(sql[m[4]:m[5]])
	var rows []map[string]string
	for i := m[1]; i < len(sql); {
		switch sql[i] {
		case ' ', ',':
			i++
		case '(':
			var body string
			body, i = parenthesized(t, sql, i)
			fields := splitTopLevel(body)
			if len(fields) != len(columns) {
				t.Fatalf("%s row (%s) has %d values for columns %v", table, body, len(fields), columns)
			}
			row := make(map[string]string, len(fields))
			for j, c := range columns {
				row[strings.ToLower(c)] = fields[j]
			}
			rows = append(rows, row)
		default:
			return rows // ';' or anything after the last tuple
		}
	}
	return rows
}

func cents(t *testing.T, s string) int64 {
	t.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("not a number: %q", s)
	}
	r.Mul(r, big.NewRat(100, 1))
	if !r.IsInt() {
		t.Fatalf("%s has more than two decimals", s)
	}
	return r.Num().Int64()
}

func TestInitSQLSeed(t *testing.T) {
	sql := normalizeSQL(readFile(t, initSQLPath))

	wantProducts := []struct{ name, price, stock string }{
		{"'LAPTOP'", "999.99", "50"}, {"'MOUSE'", "29.99", "200"}, {"'KEYBOARD'", "79.99", "150"},
		{"'MONITOR'", "299.99", "75"}, {"'HEADPHONES'", "149.99", "100"},
	}
	products := insertRows(t, sql, "products")
	if len(products) != len(wantProducts) {
		t.Fatalf("init.sql seeds %d products, want %d", len(products), len(wantProducts))
	}
	for i, p := range products {
		w := wantProducts[i]
		if p["name"] != w.name || p["price"] != w.price || p["stock_quantity"] != w.stock {
			t.Errorf("product %d = %v, want name %s price %s stock %s", i+1, p, w.name, w.price, w.stock)
		}
		if p["description"] == "" || p["description"] == "NULL" {
			t.Errorf("product %d has no description", i+1)
		}
	}

	orders := insertRows(t, sql, "orders")
	items := insertRows(t, sql, "order_items")
	if len(orders) != 3 || len(items) != 4 {
		t.Fatalf("init.sql seeds %d orders and %d order_items, want 3 and 4", len(orders), len(items))
	}
	lineSum := make(map[int]int64)
	for _, it := range items {
		if id, err := strconv.Atoi(it["product_id"]); err != nil || id < 1 || id > len(products) {
			t.Errorf("order item %v references product %s, not one of the seeded 1-%d", it, it["product_id"], len(products))
		}
		orderID, err := strconv.Atoi(it["order_id"])
		if err != nil || orderID < 1 || orderID > len(orders) {
			t.Errorf("order item %v references order %s, not one of the seeded 1-%d", it, it["order_id"], len(orders))
		}
		qty, err := strconv.ParseInt(it["quantity"], 10, 64)
		if err != nil || qty <= 0 {
			t.Errorf("order item %v has quantity %q", it, it["quantity"])
		}
		lineSum[orderID] += qty * cents(t, it["price"])
	}
	for i, o := range orders {
		id := i + 1 // SERIAL ids in insertion order
		if total := cents(t, o["total_amount"]); total != lineSum[id] {
			t.Errorf("order %d total %s differs from its lines' sum %d.%02d", id, o["total_amount"], lineSum[id]/100, lineSum[id]%100)
		}
		if o["status"] == "" || o["customer_id"] == "" {
			t.Errorf("order %d lacks status or customer_id: %v", id, o)
		}
	}
}

func TestDockerfile(t *testing.T) {
	df := readFile(t, dockerfile)
	stages := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a runtime stage", len(stages))
	}
	if !strings.HasPrefix(stages[0][1], "golang:1.26") {
		t.Errorf("build stage FROM %s, want golang:1.26", stages[0][1])
	}
	if last := stages[len(stages)-1][1]; last != "gcr.io/distroless/static-debian12:nonroot" {
		t.Errorf("runtime stage FROM %s, want gcr.io/distroless/static-debian12:nonroot", last)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath"} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %s", want)
		}
	}
	cf := loadCompose(t)
	for _, svc := range cdcServices {
		if !strings.Contains(df, "./cmd/"+svc.name) {
			t.Errorf("Dockerfile does not build ./cmd/%s", svc.name)
		}
		cmd := stringList(cf.Services[svc.name].Command)
		if len(cmd) == 0 {
			continue // reported by TestComposeCDCServices
		}
		bin := strings.Fields(cmd[0])[0]
		copied := regexp.MustCompile(`(?m)^COPY --from=\S+ .*/` + regexp.QuoteMeta(svc.name) + `\b.* ` + regexp.QuoteMeta(filepath.Dir(bin)) + `/?$`)
		if !copied.MatchString(df) {
			t.Errorf("the runtime stage does not copy %s to %s, where compose runs it", svc.name, filepath.Dir(bin))
		}
	}
}

// ---- Consistency of the compose stack with the code (issue 12) ----

// composeSpecs are the services' config specs, by name.
var composeSpecs = map[string]config.Service{
	config.Inventory.Name: config.Inventory,
	config.Analytics.Name: config.Analytics,
	config.Search.Name:    config.Search,
}

// awsSDKEnv are the variables the AWS SDK reads itself (credentials and the
// per-service endpoints): the only ones a service may get that config.Load
// does not read.
var awsSDKEnv = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_ENDPOINT_URL_DYNAMODB", "AWS_ENDPOINT_URL_S3"}

// composeConfigNames are the variables config.Load reads for svc, learned by
// calling it with a getenv that records every name asked for.
func composeConfigNames(svc config.Service) map[string]bool {
	names := map[string]bool{}
	_, _ = config.Load(svc, func(k string) (string, bool) { names[k] = true; return "", false })
	return names
}

// composeConfig is what config.Load makes of a compose service's
// environment.
func composeConfig(t *testing.T, name string, env map[string]string) config.Config {
	t.Helper()
	cfg, err := config.Load(composeSpecs[name], func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("%s: config.Load with the compose environment: %v", name, err)
	}
	return cfg
}

// composeMount is one entry of a service's volumes (short syntax).
type composeMount struct {
	source, target string
	named          bool // a named volume (not a bind mount of a host path)
}

func composeMounts(svc composeService) []composeMount {
	var out []composeMount
	for _, v := range stringList(svc.Volumes) {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			continue // an anonymous volume
		}
		src := parts[0]
		out = append(out, composeMount{source: src, target: parts[1],
			named: !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") && !strings.HasPrefix(src, "~")})
	}
	return out
}

// httpPort is the port of an HTTP_ADDR.
func httpPort(t *testing.T, addr string) string {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("HTTP_ADDR %q: %v", addr, err)
	}
	return port
}

// apiStatus answers what the services' shared HTTP server (httpapi) answers
// to GET path while the service is alive but its tables are not recovered.
func apiStatus(path string) int {
	srv := httpapi.New(prometheus.NewRegistry())
	srv.Ready("tables", func() (bool, string) { return false, "recovering" })
	rec := httptest.NewRecorder()
	srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code
}

// TestComposeEnvIsConfig: every variable a CDC service is given is one
// config.Load reads (or the AWS SDK's own), the environment loads without
// error, and STATE_DIR lies on the service's state volume.
func TestComposeEnvIsConfig(t *testing.T) {
	cf := loadCompose(t)
	for _, want := range cdcServices {
		svc := cf.Services[want.name]
		env := environment(t, want.name, svc.Environment)
		read := composeConfigNames(composeSpecs[want.name])
		if len(read) < 10 {
			t.Fatalf("config.Load read only %v: the recording getenv does not work", slices.Sorted(maps.Keys(read)))
		}
		for name := range env {
			if !read[name] && !slices.Contains(awsSDKEnv, name) {
				t.Errorf("%s: %s is not read by config.Load (nor by the AWS SDK): a typo or a setting that does nothing", want.name, name)
			}
		}
		cfg := composeConfig(t, want.name, env)
		if cfg.GroupID != want.group {
			t.Errorf("%s: group %q, want %q", want.name, cfg.GroupID, want.group)
		}
		onVolume := false
		for _, m := range composeMounts(svc) {
			if m.named && (cfg.StateDir == m.target || strings.HasPrefix(cfg.StateDir, strings.TrimSuffix(m.target, "/")+"/")) {
				onVolume = true
			}
		}
		if !onVolume {
			t.Errorf("%s: STATE_DIR %s is on no named volume (volumes %v): the tables would be rebuilt from Kafka on every recreate", want.name, cfg.StateDir, svc.Volumes)
		}
	}
}

// TestComposeHealthchecks: each CDC service has a healthcheck that runs in
// a distroless image (no shell: exec form, the image's own binary) and GETs
// a health route httpapi serves on the port of HTTP_ADDR; the other
// services have healthchecks too.
func TestComposeHealthchecks(t *testing.T) {
	cf := loadCompose(t)
	df := readFile(t, dockerfile)
	if !strings.Contains(df, "./cmd/cdc-healthcheck") {
		t.Error("Dockerfile does not build ./cmd/cdc-healthcheck")
	}
	if _, err := os.Stat(repoRoot + "/cmd/cdc-healthcheck"); err != nil {
		t.Errorf("no cmd/cdc-healthcheck: %v", err)
	}
	for _, want := range cdcServices {
		svc := cf.Services[want.name]
		test := stringList(svc.Healthcheck["test"])
		if len(test) != 3 || test[0] != "CMD" {
			t.Errorf("%s: healthcheck test %q, want [\"CMD\", <binary>, <url>] (the runtime image has no shell for CMD-SHELL)", want.name, test)
			continue
		}
		bin, target := test[1], test[2]
		copied := regexp.MustCompile(`(?m)^COPY --from=\S+ .*/` + regexp.QuoteMeta(path.Base(bin)) + `\b.* ` + regexp.QuoteMeta(path.Dir(bin)) + `/?$`)
		if path.Base(bin) != "cdc-healthcheck" || !copied.MatchString(df) {
			t.Errorf("%s: healthcheck runs %s, which the runtime stage does not copy there (want cdc-healthcheck)", want.name, bin)
		}
		u, err := url.Parse(target)
		if err != nil || u.Scheme != "http" {
			t.Errorf("%s: healthcheck URL %q is not http", want.name, target)
			continue
		}
		if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" {
			t.Errorf("%s: healthcheck URL %q does not ask the container itself", want.name, target)
		}
		cfg := composeConfig(t, want.name, environment(t, want.name, svc.Environment))
		if port := httpPort(t, cfg.HTTPAddr); u.Port() != port {
			t.Errorf("%s: healthcheck port %q, but HTTP_ADDR %q listens on %s", want.name, u.Port(), cfg.HTTPAddr, port)
		}
		// The health routes (the dashboard at / would answer any path).
		if u.Path != "/readyz" && u.Path != "/healthz" {
			t.Errorf("%s: healthcheck path %q is not /readyz or /healthz", want.name, u.Path)
		} else if code := apiStatus(u.Path); code == http.StatusNotFound || code == http.StatusMethodNotAllowed {
			t.Errorf("%s: healthcheck path %q is not served by httpapi (%d)", want.name, u.Path, code)
		}
	}
	for _, name := range []string{"prometheus", "grafana"} {
		if len(stringList(cf.Services[name].Healthcheck["test"])) == 0 {
			t.Errorf("service %s has no healthcheck", name)
		}
	}
}

// TestComposeStateVolumes: Kafka keeps its data on a named volume (its
// KAFKA_LOG_DIRS), as PostgreSQL does; since the services' state volumes
// hold offsets into Kafka's topics, a stack whose services keep state must
// keep Kafka's too, or `down` then `up` leaves the services ahead of an
// empty broker (they refused to start, in a crash loop).
func TestComposeStateVolumes(t *testing.T) {
	cf := loadCompose(t)
	namedAt := func(svc composeService, dir string) string {
		for _, m := range composeMounts(svc) {
			if m.named && strings.TrimSuffix(m.target, "/") == strings.TrimSuffix(dir, "/") {
				return m.source
			}
		}
		return ""
	}
	declared := func(vol string) {
		if _, ok := cf.Volumes[vol]; !ok {
			t.Errorf("volume %s is not declared under the top-level volumes", vol)
		}
	}
	servicesKeepState := false
	for _, want := range cdcServices {
		for _, m := range composeMounts(cf.Services[want.name]) {
			if m.named {
				servicesKeepState = true
				declared(m.source)
			}
		}
	}
	kafka := cf.Services["kafka"]
	logDirs := environment(t, "kafka", kafka.Environment)["KAFKA_LOG_DIRS"]
	if logDirs == "" {
		t.Error("kafka: KAFKA_LOG_DIRS is not set: where the broker keeps its data must be explicit")
	}
	for dir := range strings.SplitSeq(logDirs, ",") {
		if dir == "" {
			continue
		}
		if vol := namedAt(kafka, dir); vol == "" {
			if servicesKeepState {
				t.Errorf("kafka: log dir %s is on no named volume while the services keep state volumes: `docker compose down` then `up` would leave them ahead of an empty broker", dir)
			}
		} else {
			declared(vol)
		}
	}
	pg := cf.Services["postgres"]
	pgData := environment(t, "postgres", pg.Environment)["PGDATA"]
	if pgData == "" {
		pgData = "/var/lib/postgresql/data" // the postgres image's default
	}
	if vol := namedAt(pg, pgData); vol == "" {
		t.Errorf("postgres: %s is on no named volume: Debezium's replication slot would be lost while its offsets stay in Kafka", pgData)
	} else {
		declared(vol)
	}
}

// connectImageEnv are the names the Debezium Connect image's entrypoint
// reads itself (debezium/container-images, connect-base/2.7/
// docker-entrypoint.sh and its README); any other worker property must be
// given as CONNECT_<PROPERTY>, which the entrypoint turns into
// <property> (lower case, _ to .). A name outside both is ignored.
var connectImageEnv = []string{
	"BOOTSTRAP_SERVERS", "GROUP_ID", "CONFIG_STORAGE_TOPIC", "OFFSET_STORAGE_TOPIC", "STATUS_STORAGE_TOPIC",
	"HOST_NAME", "REST_HOST_NAME", "REST_PORT", "ADVERTISED_HOST_NAME", "ADVERTISED_PORT",
	"KEY_CONVERTER", "VALUE_CONVERTER", "OFFSET_FLUSH_INTERVAL_MS", "OFFSET_FLUSH_TIMEOUT_MS",
	"SHUTDOWN_TIMEOUT", "HEAP_OPTS", "LOG_LEVEL", "SCHEMA_REGISTRY", "SENSITIVE_PROPERTIES",
	"ENABLE_APICURIO_CONVERTERS", "ENABLE_DEBEZIUM_KC_REST_EXTENSION", "ENABLE_DEBEZIUM_SCRIPTING",
	"ENABLE_JOLOKIA", "ENABLE_OTEL", "ENABLE_JFR", "ENABLE_JMX_EXPORTER",
	"JMXHOST", "JMXPORT", "JMXAUTH", "JMXSSL", "KAFKA_OPTS",
}

// TestComposeConnectEnv: Connect's environment uses only names the image
// reads, and its internal topics' replication factors (CONNECT_-prefixed)
// fit the single broker.
func TestComposeConnectEnv(t *testing.T) {
	cf := loadCompose(t)
	env := environment(t, "connect", cf.Services["connect"].Environment)
	for name := range env {
		if !strings.HasPrefix(name, "CONNECT_") && !slices.Contains(connectImageEnv, name) {
			t.Errorf("connect: %s is neither a variable the Debezium image reads nor CONNECT_<property>: it is ignored", name)
		}
	}
	for _, topic := range []string{"CONFIG", "OFFSET", "STATUS"} {
		name := "CONNECT_" + topic + "_STORAGE_REPLICATION_FACTOR"
		if env[name] != "1" {
			t.Errorf("connect: %s = %q, want \"1\" (one broker; Connect's default 3 cannot be met)", name, env[name])
		}
	}
}

// TestComposePrometheus: Prometheus scrapes every CDC service on the port
// of its HTTP_ADDR at a path httpapi serves metrics on, labelling the
// target with service=<name> (as the Kubernetes ServiceMonitor does).
func TestComposePrometheus(t *testing.T) {
	cf := loadCompose(t)
	prom, ok := cf.Services["prometheus"]
	if !ok {
		t.Fatal("docker-compose.yml has no prometheus service")
	}
	if !strings.HasPrefix(prom.Image, "prom/prometheus:") {
		t.Errorf("prometheus image %q, want prom/prometheus", prom.Image)
	}
	configFile := "/etc/prometheus/prometheus.yml" // the image's default
	for _, a := range stringList(prom.Command) {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			configFile = v
		}
	}
	mounted := slices.ContainsFunc(composeMounts(prom), func(m composeMount) bool {
		return filepath.Clean(filepath.Join(repoRoot, m.source)) == filepath.Clean(promPath) && m.target == configFile
	})
	if !mounted {
		t.Errorf("prometheus does not mount deploy/prometheus/prometheus.yml at its --config.file %s: %v", configFile, prom.Volumes)
	}
	var pc struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			Scheme        string `yaml:"scheme"`
			StaticConfigs []struct {
				Targets []string          `yaml:"targets"`
				Labels  map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, promPath)), &pc); err != nil {
		t.Fatalf("parse %s: %v", promPath, err)
	}
	for _, want := range cdcServices {
		cfg := composeConfig(t, want.name, environment(t, want.name, cf.Services[want.name].Environment))
		target := net.JoinHostPort(want.name, httpPort(t, cfg.HTTPAddr))
		found := false
		for _, sc := range pc.ScrapeConfigs {
			for _, st := range sc.StaticConfigs {
				if !slices.Contains(st.Targets, target) {
					continue
				}
				found = true
				mp := sc.MetricsPath
				if mp == "" {
					mp = "/metrics"
				}
				if code := apiStatus(mp); code != http.StatusOK {
					t.Errorf("job %s scrapes %s%s, which httpapi answers %d", sc.JobName, target, mp, code)
				}
				if sc.Scheme != "" && sc.Scheme != "http" {
					t.Errorf("job %s scrapes with scheme %s, the services serve http", sc.JobName, sc.Scheme)
				}
				if st.Labels["service"] != want.name {
					t.Errorf("job %s: target %s has label service=%q, want %q (dashboards and alerts select on it)", sc.JobName, target, st.Labels["service"], want.name)
				}
			}
		}
		if !found {
			t.Errorf("prometheus.yml has no scrape target %s (service %s, HTTP_ADDR %q)", target, want.name, cfg.HTTPAddr)
		}
	}
	// Every target is a service of the stack (or Prometheus itself).
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				host, _, err := net.SplitHostPort(tg)
				if err != nil {
					t.Errorf("job %s: target %q is not host:port", sc.JobName, tg)
					continue
				}
				if _, ok := cf.Services[host]; !ok && host != "localhost" {
					t.Errorf("job %s: target %s is not a service of docker-compose.yml", sc.JobName, tg)
				}
			}
		}
	}
}

// TestComposeGrafana: Grafana gets the provisioning directory, whose
// datasource is the stack's Prometheus and whose dashboard provider loads
// the directory where deploy/grafana/dashboards is mounted; every dashboard
// there parses and refers only to a provisioned datasource.
func TestComposeGrafana(t *testing.T) {
	cf := loadCompose(t)
	gf, ok := cf.Services["grafana"]
	if !ok {
		t.Fatal("docker-compose.yml has no grafana service")
	}
	if !strings.HasPrefix(gf.Image, "grafana/grafana") {
		t.Errorf("grafana image %q, want grafana/grafana", gf.Image)
	}
	provisioning := environment(t, "grafana", gf.Environment)["GF_PATHS_PROVISIONING"]
	if provisioning == "" {
		provisioning = "/etc/grafana/provisioning" // the image's default
	}
	mountOf := func(hostDir string) string {
		for _, m := range composeMounts(gf) {
			if !m.named && filepath.Clean(filepath.Join(repoRoot, m.source)) == filepath.Clean(hostDir) {
				return m.target
			}
		}
		return ""
	}
	if got := mountOf(grafanaDir + "/provisioning"); got != provisioning {
		t.Errorf("grafana mounts deploy/grafana/provisioning at %q, want its provisioning path %s", got, provisioning)
	}
	dashboardsAt := mountOf(grafanaDir + "/dashboards")
	if dashboardsAt == "" {
		t.Errorf("grafana does not mount deploy/grafana/dashboards: %v", gf.Volumes)
	}
	if dependsOn(gf.DependsOn)["prometheus"] == "" {
		t.Errorf("grafana does not depend on prometheus: %v", gf.DependsOn)
	}

	yamls := func(sub string) [][]byte {
		var out [][]byte
		for _, ext := range []string{"*.yml", "*.yaml"} {
			files, _ := filepath.Glob(filepath.Join(grafanaDir, "provisioning", sub, ext))
			for _, f := range files {
				out = append(out, []byte(readFile(t, f)))
			}
		}
		if len(out) == 0 {
			t.Errorf("no provisioning files in deploy/grafana/provisioning/%s", sub)
		}
		return out
	}
	uids := map[string]bool{}
	promURL := false
	for _, raw := range yamls("datasources") {
		var ds struct {
			Datasources []struct {
				UID  string `yaml:"uid"`
				Type string `yaml:"type"`
				URL  string `yaml:"url"`
			} `yaml:"datasources"`
		}
		if err := yaml.Unmarshal(raw, &ds); err != nil {
			t.Fatalf("datasource provisioning: %v", err)
		}
		for _, d := range ds.Datasources {
			uids[d.UID] = true
			if u, err := url.Parse(d.URL); d.Type == "prometheus" && err == nil {
				_, isService := cf.Services[u.Hostname()]
				promURL = promURL || (isService && u.Hostname() == "prometheus" && u.Port() == "9090")
			}
		}
	}
	if !promURL {
		t.Error("no provisioned prometheus datasource with url http://prometheus:9090")
	}
	loads := false
	for _, raw := range yamls("dashboards") {
		var dp struct {
			Providers []struct {
				Type    string `yaml:"type"`
				Options struct {
					Path string `yaml:"path"`
				} `yaml:"options"`
			} `yaml:"providers"`
		}
		if err := yaml.Unmarshal(raw, &dp); err != nil {
			t.Fatalf("dashboard provisioning: %v", err)
		}
		for _, p := range dp.Providers {
			if p.Type == "file" && dashboardsAt != "" && strings.TrimSuffix(p.Options.Path, "/") == strings.TrimSuffix(dashboardsAt, "/") {
				loads = true
			}
		}
	}
	if !loads {
		t.Errorf("no file dashboard provider loads %q, where deploy/grafana/dashboards is mounted", dashboardsAt)
	}

	files, _ := filepath.Glob(filepath.Join(grafanaDir, "dashboards", "*.json"))
	t.Logf("%d dashboards in deploy/grafana/dashboards", len(files))
	for _, f := range files {
		var doc any
		if err := json.Unmarshal([]byte(readFile(t, f)), &doc); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		var walk func(v any)
		walk = func(v any) {
			switch v := v.(type) {
			case map[string]any:
				if ds, ok := v["datasource"].(map[string]any); ok {
					if uid, ok := ds["uid"].(string); ok && !uids[uid] && !strings.HasPrefix(uid, "$") && !strings.HasPrefix(uid, "-- ") {
						t.Errorf("%s: datasource uid %q is not provisioned (have %v)", filepath.Base(f), uid, slices.Sorted(maps.Keys(uids)))
					}
				}
				for _, e := range v {
					walk(e)
				}
			case []any:
				for _, e := range v {
					walk(e)
				}
			}
		}
		walk(doc)
	}
}

// TestDockerfileGoVersion: the build stage's Go image is exactly the
// version go.mod requires (its toolchain line when present, else its go
// line), so the image builds with the toolchain the module was tested with.
func TestDockerfileGoVersion(t *testing.T) {
	mod := readFile(t, goModPath)
	m := regexp.MustCompile(`(?m)^go\s+(\S+)\s*$`).FindStringSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	want := m[1]
	if tc := regexp.MustCompile(`(?m)^toolchain\s+go(\S+)\s*$`).FindStringSubmatch(mod); tc != nil {
		want = tc[1]
	}
	stages := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(readFile(t, dockerfile), -1)
	if len(stages) == 0 {
		t.Fatal("Dockerfile has no FROM")
	}
	image := stages[0][1]
	tag, ok := strings.CutPrefix(image, "golang:")
	version, _, _ := strings.Cut(tag, "-") // golang:1.26.8-bookworm
	if !ok || version != want {
		t.Errorf("build stage FROM %s, want golang:%s (go.mod)", image, want)
	}
}

// registerScript is register-connector's shell script as the container's
// shell gets it: Compose turns $$ into $.
func registerScript(t *testing.T) string {
	t.Helper()
	reg := loadCompose(t).Services["register-connector"]
	entry := stringList(reg.Entrypoint)
	cmd := stringList(reg.Command)
	if len(entry) != 2 || entry[1] != "-c" || len(cmd) != 1 {
		t.Fatalf("register-connector is not [sh, -c] with one script: entrypoint %v, command %d parts", entry, len(cmd))
	}
	raw := cmd[0]
	// Compose interpolates a single $ from the host's environment: the
	// script's own variables must all be written $$.
	if single := regexp.MustCompile(`(^|[^$])\$([^$]|$)`).FindString(strings.ReplaceAll(raw, "$$", "")); single != "" {
		t.Errorf("register-connector script has a single $ (%q), which Compose would interpolate", single)
	}
	return strings.ReplaceAll(raw, "$$", "$")
}

// fakeConnect is Kafka Connect's REST API as far as registration goes: each
// POST /connectors takes the next answer of posts; GET
// /connectors/<name> answers 200 once the connector exists.
type fakeConnect struct {
	mu     sync.Mutex
	posts  []int // answers to the POSTs, in order; 201 registers
	exists bool  // the connector is registered
	calls  []string
	body   string // the last POST's body
}

func (f *fakeConnect) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, r.Method+" "+r.URL.Path)
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/connectors":
		fmt.Fprint(w, "[]")
	case r.Method == http.MethodPost && r.URL.Path == "/connectors":
		b := new(strings.Builder)
		_, _ = fmt.Fprint(b, r.Body)
		code := http.StatusInternalServerError
		if len(f.posts) > 0 {
			code, f.posts = f.posts[0], f.posts[1:]
		}
		if code == http.StatusCreated {
			f.exists = true
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"answer":%d}`, code)
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/connectors/"):
		if f.exists && r.URL.Path == "/connectors/ecommerce-connector" {
			fmt.Fprint(w, `{"name":"ecommerce-connector"}`)
			return
		}
		http.Error(w, `{"error_code":404}`, http.StatusNotFound)
	default:
		http.NotFound(w, r)
	}
}

// TestRegisterConnector runs register-connector's script (with the local
// sh and curl) against a fake Connect: a 409 is "already registered" only
// when GET /connectors/<name> finds the connector; a 409 while Connect's
// workers rebalance is retried until the POST succeeds.
func TestRegisterConnector(t *testing.T) {
	script := registerScript(t)
	for _, tool := range []string{"sh", "curl", "sed", "mktemp"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed: cannot run the script here", tool)
		}
	}
	connector, err := filepath.Abs(connectorPath)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		posts     []int
		exists    bool
		wantExit  int
		wantPosts int
		says      string
	}{
		{"created", []int{201}, false, 0, 1, "registered"},
		{"already registered", []int{409}, true, 0, 1, "already registered"},
		{"409 while rebalancing, then created", []int{409, 409, 201}, false, 0, 3, "connector ecommerce-connector registered"},
		{"Connect still starting (503), then created", []int{503, 201}, false, 0, 2, "connector ecommerce-connector registered"},
		{"bad config", []int{400}, false, 1, 1, "registration failed: HTTP 400"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &fakeConnect{posts: slices.Clone(c.posts), exists: c.exists}
			srv := httptest.NewServer(f)
			defer srv.Close()
			cmd := exec.Command("sh", "-c", script)
			cmd.Env = append(os.Environ(), "CONNECTORS_URL="+srv.URL+"/connectors", "CONNECTOR_FILE="+connector, "RETRY_SECONDS=0.05")
			done := make(chan struct{})
			var out []byte
			go func() { out, err = cmd.CombinedOutput(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				_ = cmd.Process.Kill()
				<-done
				t.Fatalf("script still running after 30 s:\n%s", out)
			}
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			f.mu.Lock()
			calls := slices.Clone(f.calls)
			f.mu.Unlock()
			posts := 0
			for _, call := range calls {
				if call == "POST /connectors" {
					posts++
				}
			}
			if code != c.wantExit || posts != c.wantPosts || !strings.Contains(string(out), c.says) {
				t.Errorf("exit %d after %d POSTs (calls %v), output:\n%s\nwant exit %d after %d POSTs saying %q", code, posts, calls, out, c.wantExit, c.wantPosts, c.says)
			}
		})
	}
}
