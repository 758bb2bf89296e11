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

// TestInventoryJSONSchemaMatchesOracle runs inventoryRegistryMatchesOracle
// on what Confluent's JsonSchemaConverter writes (framed keys and values,
// plain JSON after the framing, JSON Schemas registered with schemaType
// JSON): the envelope with precise (base64) decimals, then the
// ExtractNewRecordState record with __source_sequence and NUMERIC
// decimals; the spoiled record has a wrong type.
func TestInventoryJSONSchemaMatchesOracle(t *testing.T) {
	inventoryRegistryMatchesOracle(t, registryCase{
		name: "JSON Schema", seed: 17, firstByte: '{',
		before:       dbzenc.EncodeOptions{Format: dbzenc.FormatJSONSchema},
		after:        dbzenc.EncodeOptions{Format: dbzenc.FormatJSONSchemaFlat, FlatSequence: true, Decimal: dbzenc.DecimalNumeric},
		decodeReason: "decode json schema", spoiled: "stock_quantity",
		spoil: func(t *testing.T, payload []byte) []byte {
			bad := bytes.Replace(payload, []byte(`"stock_quantity":`), []byte(`"stock_quantity":"x","_":`), 1)
			if bytes.Equal(bad, payload) {
				t.Fatalf("no stock_quantity in %s", payload)
			}
			return bad
		},
	})
}

// TestInventoryProtobufMatchesOracle runs inventoryRegistryMatchesOracle
// on what Confluent's ProtobufConverter writes (framed keys and values
// with the message-index path [0], .proto schemas importing
// confluent/meta.proto and confluent/type/decimal.proto, registered with
// schemaType PROTOBUF): the envelope with confluent.type.Decimal prices,
// then the ExtractNewRecordState record with __source_sequence; the
// spoiled record's message is cut short.
func TestInventoryProtobufMatchesOracle(t *testing.T) {
	inventoryRegistryMatchesOracle(t, registryCase{
		name: "Protobuf", seed: 23, firstByte: 0, // the message indexes [0]
		before:       dbzenc.EncodeOptions{Format: dbzenc.FormatProtobuf},
		after:        dbzenc.EncodeOptions{Format: dbzenc.FormatProtobufFlat, FlatSequence: true},
		decodeReason: "decode protobuf", spoiled: "malformed Protobuf data",
		spoil: func(_ *testing.T, payload []byte) []byte { return payload[:len(payload)-3] },
	})
}

// registryCase is one converter's stream for inventoryRegistryMatchesOracle.
type registryCase struct {
	name          string
	seed          uint64
	before, after dbzenc.EncodeOptions // the first 3/5 of the changes, the rest (new schema ids)
	firstByte     byte                 // of every payload after the framing
	// spoil returns a payload that does not fit its schema; the dead
	// letter's reason names decodeReason (with the schema id) and spoiled.
	spoil                 func(t *testing.T, payload []byte) []byte
	decodeReason, spoiled string
}

func (c registryCase) with(o dbzenc.EncodeOptions, register func(subject, schema string) (int32, error)) dbzenc.EncodeOptions {
	o.Register = register
	return o
}

// inventoryRegistryMatchesOracle runs the inventory-service against kfake,
// dynalite and the Schema Registry (with basic auth) over a generated
// stream with connector replays and the products topic delivered behind
// order_items, in c's converter, the schemas changing mid-stream. Every
// product's DynamoDB item and API answer must equal the oracle, with
// nothing dead-lettered and one registry request per schema id
// (DECIMAL_SCALE is 4, the schemas say 2: prices are right only with the
// schemas' scale); then a spoiled record reaches the dead-letter topic
// with its reason.
func inventoryRegistryMatchesOracle(t *testing.T, c registryCase) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	sr := registry.New(t, registry.Options{Username: "cdc", Password: "s3cret"})
	reg := registry.Registrar(sr.URL(), registry.RegistrarOptions{SchemaType: c.before.Format.SchemaType(), Username: "cdc", Password: "s3cret"})
	db := testenv.Dynalite(t)
	dyn, err := db.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	k := startKafka(t)

	seed := c.seed
	changes := shopsim.New(shopsim.Config{Seed: seed, Products: 120}).Generate(8000)
	cut := len(changes) * 3 / 5
	before, err := shopsim.Encode(changes[:cut], c.with(c.before, reg))
	if err != nil {
		t.Fatal(err)
	}
	after, err := shopsim.Encode(changes[cut:], c.with(c.after, reg))
	if err != nil {
		t.Fatal(err)
	}
	before = inventoryTopics(shopsim.WithReplays(before, seed, shopsim.Replay{Every: 1000, Back: 200}))
	after = inventoryTopics(shopsim.WithReplays(after, seed+1, shopsim.Replay{Every: 1000, Back: 200}))
	for _, r := range before[:3] {
		if _, p, ok := confluent.Split(r.Value); !ok || len(p) == 0 || p[0] != c.firstByte {
			t.Fatalf("record %s is not framed %s", r.Topic, c.name)
		}
	}
	bt := shopsim.ByTopic(before)
	products, items := bt["dbserver1.public.products"], bt["dbserver1.public.order_items"]
	early := append(append([]shopsim.Record{}, items...), products[:len(products)/3]...)
	produce(t, k.Brokers(), early)
	env := map[string]string{"KAFKA_BOOTSTRAP_SERVERS": strings.Join(k.Brokers(), ","), "DYNAMODB_TABLE": "inventory-realtime",
		"SCHEMA_REGISTRY_URL": sr.URL(), "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "cdc:s3cret", "SCHEMA_REGISTRY_TIMEOUT": "1s",
		// Not the schemas' scale: a price read without the scale its
		// schema or message carries is off by a factor of 100.
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
	t.Logf("%d records, %v %s schemas cached, %v registry requests, 0 dead letters", total, cached, c.name, reqs)

	// A record whose payload does not fit its schema.
	var prod shopsim.Record
	for _, r := range after {
		if r.Topic == "dbserver1.public.products" && len(r.Value) > 0 {
			prod = r
			break
		}
	}
	id, payload, _ := confluent.Split(prod.Value)
	bad := c.spoil(t, payload)
	produce(t, k.Brokers(), []shopsim.Record{{Topic: "dbserver1.public.products", Key: []byte(`{"id":1}`), Value: confluent.Frame(id, bad)}})
	letters := poisonReadDLQ(t, k.Brokers(), "inventory-service-dlq", 1)
	if len(letters) != 1 || !strings.Contains(letters[0].headers["error"], fmt.Sprintf("%s (schema id %d)", c.decodeReason, id)) ||
		!strings.Contains(letters[0].headers["error"], c.spoiled) {
		t.Fatalf("dead letters %+v, want one with the reason", letters)
	}
}
