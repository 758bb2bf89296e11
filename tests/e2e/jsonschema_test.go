package e2e

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/codecs/confluent"
	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/testkit/registry"
	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/oracle"
	"github.com/cdcflow/cdcflow/tools/shopsim"
)

// TestInventoryJSONSchemaMatchesOracle runs the inventory-service against
// kfake, dynalite and the fake Schema Registry (with basic auth) over a
// generated stream with connector replays and the products topic
// delivered behind order_items, serialized as Confluent's
// JsonSchemaConverter does (framed keys and values, plain JSON after the
// framing, JSON Schemas registered with schemaType JSON): first the
// envelope with precise (base64) decimals, then mid-stream the
// ExtractNewRecordState record with __source_sequence and NUMERIC
// decimals (new schema ids). Every product's DynamoDB item and API answer
// must equal the oracle, with nothing dead-lettered (DECIMAL_SCALE is 4,
// the schemas say 2: prices are right only with the schemas' scale); then a JSON Schema
// record with a wrong type reaches the dead-letter topic with its reason.
func TestInventoryJSONSchemaMatchesOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const seed = 17
	sr := registry.New(t, registry.Options{Username: "cdc", Password: "s3cret"})
	reg := registry.Registrar(sr.URL(), registry.RegistrarOptions{SchemaType: "JSON", Username: "cdc", Password: "s3cret"})
	db := testenv.Dynalite(t)
	dyn, err := db.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	k := startKafka(t)

	changes := shopsim.New(shopsim.Config{Seed: seed, Products: 120}).Generate(8000)
	cut := len(changes) * 3 / 5
	before, err := shopsim.Encode(changes[:cut], dbzenc.EncodeOptions{Format: dbzenc.FormatJSONSchema, Register: reg})
	if err != nil {
		t.Fatal(err)
	}
	after, err := shopsim.Encode(changes[cut:], dbzenc.EncodeOptions{Format: dbzenc.FormatJSONSchemaFlat, FlatSequence: true, Decimal: dbzenc.DecimalNumeric, Register: reg})
	if err != nil {
		t.Fatal(err)
	}
	before = inventoryTopics(shopsim.WithReplays(before, seed, shopsim.Replay{Every: 1000, Back: 200}))
	after = inventoryTopics(shopsim.WithReplays(after, seed+1, shopsim.Replay{Every: 1000, Back: 200}))
	for _, r := range before[:3] {
		if _, p, ok := confluent.Split(r.Value); !ok || p[0] != '{' {
			t.Fatalf("record %s is not framed JSON", r.Topic)
		}
	}
	bt := shopsim.ByTopic(before)
	products, items := bt["dbserver1.public.products"], bt["dbserver1.public.order_items"]
	early := append(append([]shopsim.Record{}, items...), products[:len(products)/3]...)
	produce(t, k.Brokers(), early)
	env := map[string]string{"KAFKA_BOOTSTRAP_SERVERS": strings.Join(k.Brokers(), ","), "DYNAMODB_TABLE": "inventory-realtime",
		"SCHEMA_REGISTRY_URL": sr.URL(), "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "cdc:s3cret", "SCHEMA_REGISTRY_TIMEOUT": "1s",
		// Not the schemas' scale: a base64 price read without the scale of
		// its JSON Schema (connect.parameters) is off by a factor of 100.
		"DECIMAL_SCALE": "4"}
	svc := start(t, config.Inventory, app.Inventory, env, dyn, nil)
	defer svc.Stop(t)
	eventually(t, 2*time.Minute, func() string {
		if n := consumed(t, svc.URL); n < len(early) {
			return fmt.Sprintf("consumed %d of %d records", n, len(early))
		}
		return ""
	}, svc)
	produce(t, k.Brokers(), products[len(products)/3:])
	produce(t, k.Brokers(), after)

	want := oracle.ExpectInventory(changes)
	if len(want) < 60 {
		t.Fatalf("oracle has only %d products; the stream is too small to mean anything", len(want))
	}
	eventually(t, 3*time.Minute, func() string { return compareDynamo(t, dyn, want) }, svc)
	if d := compareAPI(t, svc.URL, want, changes); d != "" {
		t.Fatal(d)
	}
	total := len(before) + len(after)
	eventually(t, time.Minute, func() string {
		if n := consumed(t, svc.URL); n != total {
			return fmt.Sprintf("consumed %d records, want %d", n, total)
		}
		return ""
	}, svc)
	m := outageScrape(t, svc.URL)
	if n, _ := outageSum(m, "cdc_dead_letters_total"); n != 0 {
		t.Fatalf("%v records dead-lettered", n)
	}
	cached, _ := outageSum(m, "schema_registry_cached_schemas")
	reqs, _ := outageSum(m, "schema_registry_requests_total")
	if cached < 4 || reqs != cached {
		t.Fatalf("%v schemas cached, %v registry requests: want one request per schema id, at least 4", cached, reqs)
	}
	t.Logf("%d records, %v JSON Schemas cached, %v registry requests, 0 dead letters", total, cached, reqs)

	// A JSON Schema record whose value does not fit its schema's columns.
	var prod shopsim.Record
	for _, r := range after {
		if r.Topic == "dbserver1.public.products" && len(r.Value) > 0 {
			prod = r
			break
		}
	}
	id, payload, _ := confluent.Split(prod.Value)
	bad := bytes.Replace(payload, []byte(`"stock_quantity":`), []byte(`"stock_quantity":"x","_":`), 1)
	if bytes.Equal(bad, payload) {
		t.Fatalf("no stock_quantity in %s", payload)
	}
	produce(t, k.Brokers(), []shopsim.Record{{Topic: "dbserver1.public.products", Key: []byte(`{"id":1}`), Value: confluent.Frame(id, bad)}})
	letters := poisonReadDLQ(t, k.Brokers(), "inventory-service-dlq", 1)
	if len(letters) != 1 || !strings.Contains(letters[0].headers["error"], fmt.Sprintf("decode json schema (schema id %d)", id)) ||
		!strings.Contains(letters[0].headers["error"], "stock_quantity") {
		t.Fatalf("dead letters %+v, want one with the reason", letters)
	}
}
