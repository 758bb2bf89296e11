package deploy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
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
