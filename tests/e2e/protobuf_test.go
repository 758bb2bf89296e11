package e2e

import (
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

// TestInventoryProtobufMatchesOracle runs the inventory-service against
// kfake, dynalite and the fake Schema Registry (with basic auth) over a
// generated stream with connector replays and the products topic
// delivered behind order_items, serialized as Confluent's
// ProtobufConverter does (framed keys and values with the message-index
// path [0], .proto schemas importing confluent/meta.proto and
// confluent/type/decimal.proto, registered with schemaType PROTOBUF):
// first the envelope with confluent.type.Decimal prices, then mid-stream
// the ExtractNewRecordState record with __source_sequence (new schema
// ids). Every product's DynamoDB item and API answer must equal the
// oracle, with nothing dead-lettered (DECIMAL_SCALE is 4, the Decimal
// messages carry scale 2: prices are right only with the messages'
// scale); then a Protobuf record whose message does not fit its schema
// reaches the dead-letter topic with its reason.
func TestInventoryProtobufMatchesOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const seed = 23
	sr := registry.New(t, registry.Options{Username: "cdc", Password: "s3cret"})
	reg := registry.Registrar(sr.URL(), registry.RegistrarOptions{SchemaType: "PROTOBUF", Username: "cdc", Password: "s3cret"})
	db := testenv.Dynalite(t)
	dyn, err := db.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	k := startKafka(t)

	changes := shopsim.New(shopsim.Config{Seed: seed, Products: 120}).Generate(8000)
	cut := len(changes) * 3 / 5
	before, err := shopsim.Encode(changes[:cut], dbzenc.EncodeOptions{Format: dbzenc.FormatProtobuf, Register: reg})
	if err != nil {
		t.Fatal(err)
	}
	after, err := shopsim.Encode(changes[cut:], dbzenc.EncodeOptions{Format: dbzenc.FormatProtobufFlat, FlatSequence: true, Register: reg})
	if err != nil {
		t.Fatal(err)
	}
	before = inventoryTopics(shopsim.WithReplays(before, seed, shopsim.Replay{Every: 1000, Back: 200}))
	after = inventoryTopics(shopsim.WithReplays(after, seed+1, shopsim.Replay{Every: 1000, Back: 200}))
	for _, r := range before[:3] {
		if _, p, ok := confluent.Split(r.Value); !ok || len(p) == 0 || p[0] != 0 {
			t.Fatalf("record %s is not framed Protobuf with message indexes [0]", r.Topic)
		}
	}
	bt := shopsim.ByTopic(before)
	products, items := bt["dbserver1.public.products"], bt["dbserver1.public.order_items"]
	early := append(append([]shopsim.Record{}, items...), products[:len(products)/3]...)
	produce(t, k.Brokers(), early)
	env := map[string]string{"KAFKA_BOOTSTRAP_SERVERS": strings.Join(k.Brokers(), ","), "DYNAMODB_TABLE": "inventory-realtime",
		"SCHEMA_REGISTRY_URL": sr.URL(), "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "cdc:s3cret", "SCHEMA_REGISTRY_TIMEOUT": "1s",
		// Not the schemas' scale: a price read without the scale its
		// confluent.type.Decimal carries is off by a factor of 100.
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
	t.Logf("%d records, %v Protobuf schemas cached, %v registry requests, 0 dead letters", total, cached, reqs)

	// A Protobuf record whose message is cut short.
	var prod shopsim.Record
	for _, r := range after {
		if r.Topic == "dbserver1.public.products" && len(r.Value) > 0 {
			prod = r
			break
		}
	}
	id, payload, _ := confluent.Split(prod.Value)
	bad := payload[:len(payload)-3]
	produce(t, k.Brokers(), []shopsim.Record{{Topic: "dbserver1.public.products", Key: []byte(`{"id":1}`), Value: confluent.Frame(id, bad)}})
	letters := poisonReadDLQ(t, k.Brokers(), "inventory-service-dlq", 1)
	if len(letters) != 1 || !strings.Contains(letters[0].headers["error"], fmt.Sprintf("decode protobuf (schema id %d)", id)) ||
		!strings.Contains(letters[0].headers["error"], "malformed Protobuf data") {
		t.Fatalf("dead letters %+v, want one with the reason", letters)
	}
}
