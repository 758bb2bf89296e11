package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cdcflow/cdcflow/codecs/confluent"
	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/testkit/registry"
	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/oracle"
	"github.com/cdcflow/cdcflow/tools/shopsim"
)

// TestInventoryAvroMatchesOracle runs the inventory-service against kfake,
// dynalite and the fake Schema Registry (testkit/registry) over a generated
// stream of 20,000+ changes with connector replays, the products topic
// delivered behind order_items (as TestInventoryMatchesOracle), serialized as
// Confluent's AvroConverter does (dbzenc.FormatAvro: framed Avro keys and
// values, schemas registered through the registry's REST protocol), and
// compares every product's DynamoDB item and API answer with the oracle.
//
// Mid-stream the connector's schemas change (decimal.handling.mode
// precise → string: new value schema ids) while the registry is down for
// a few seconds: the records needing the new ids wait (the registry is
// reported degraded in /readyz, nothing is dead-lettered), and once it is
// back everything converges. A record framed with an id the registry does
// not know goes to the dead-letter topic with its reason. Finally the
// service stops while a record waits for the registry (down again): the
// stop is clean and the next instance reads the record.
func TestInventoryAvroMatchesOracle(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const seed = 16
	sr := registry.New(t, registry.Options{Username: "cdc", Password: "s3cret"})
	db := testenv.Dynalite(t)
	dyn, err := db.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	k := startKafka(t)

	changes := shopsim.New(shopsim.Config{Seed: seed, Products: 200}).Generate(20000)
	cut := len(changes) * 3 / 5
	before, err := shopsim.Encode(changes[:cut], dbzenc.EncodeOptions{Format: dbzenc.FormatAvro, Register: sr.Register})
	if err != nil {
		t.Fatal(err)
	}
	after, err := shopsim.Encode(changes[cut:], dbzenc.EncodeOptions{Format: dbzenc.FormatAvro, Decimal: dbzenc.DecimalString, Register: sr.Register})
	if err != nil {
		t.Fatal(err)
	}
	before = inventoryTopics(shopsim.WithReplays(before, seed, shopsim.Replay{Every: 1500, Back: 300}))
	after = inventoryTopics(shopsim.WithReplays(after, seed+1, shopsim.Replay{Every: 1500, Back: 300}))
	for _, r := range before[:3] {
		if _, _, ok := confluent.Split(r.Value); !ok {
			t.Fatalf("record %s is not Confluent-framed", r.Topic)
		}
	}
	// order_items runs ahead of products: all lines and a third of the
	// product versions before the schema change are consumed before the
	// rest of those versions reach Kafka.
	bt := shopsim.ByTopic(before)
	products, items := bt["dbserver1.public.products"], bt["dbserver1.public.order_items"]
	early := append(append([]shopsim.Record{}, items...), products[:len(products)/3]...)
	produce(t, k.Brokers(), early)
	env := map[string]string{"KAFKA_BOOTSTRAP_SERVERS": strings.Join(k.Brokers(), ","), "DYNAMODB_TABLE": "inventory-realtime",
		"SCHEMA_REGISTRY_URL": sr.URL(), "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO": "cdc:s3cret", "SCHEMA_REGISTRY_TIMEOUT": "1s"}
	svc := start(t, config.Inventory, app.Inventory, env, dyn, nil)
	defer svc.Stop(t)
	for i, want := range []int{len(early), len(before)} {
		if i == 1 {
			produce(t, k.Brokers(), products[len(products)/3:])
		}
		eventually(t, 3*time.Minute, func() string {
			if n := consumed(t, svc.URL); n < want {
				return fmt.Sprintf("consumed %d of %d records", n, want)
			}
			return ""
		}, svc)
	}

	// The registry goes away; the new schemas' records arrive meanwhile.
	sr.Stop()
	outageStart := time.Now()
	produce(t, k.Brokers(), after)
	eventually(t, time.Minute, func() string {
		if r := outageReadyz(t, svc.URL); !r.names("inventory-service/schema-registry") {
			return fmt.Sprintf("/readyz does not report the registry degraded: %+v", r)
		}
		return ""
	}, svc)
	time.Sleep(4*time.Second - time.Since(outageStart))
	m := outageScrape(t, svc.URL)
	if n, _ := outageSum(m, "cdc_dead_letters_total"); n != 0 {
		t.Fatalf("%v records dead-lettered during the registry outage", n)
	}
	if n, _ := outageSum(m, "cdc_records_waiting_for_schema"); n < 1 {
		t.Fatalf("no record waits for the registry during the outage (%v)", n)
	}
	if n := consumed(t, svc.URL); n >= len(before)+len(after) {
		t.Fatalf("all %d records consumed while the registry was down", n)
	}
	if err := sr.Resume(); err != nil {
		t.Fatal(err)
	}
	t.Logf("registry down for %v", time.Since(outageStart).Round(time.Millisecond))

	want := oracle.ExpectInventory(changes)
	if len(want) < 100 {
		t.Fatalf("oracle has only %d products; the stream is too small to mean anything", len(want))
	}
	eventually(t, 4*time.Minute, func() string { return compareDynamo(t, dyn, want) }, svc)
	if d := compareAPI(t, svc.URL, want, changes); d != "" {
		t.Fatal(d)
	}
	m = outageScrape(t, svc.URL)
	if n, _ := outageSum(m, "cdc_dead_letters_total"); n != 0 {
		t.Fatalf("%v records dead-lettered", n)
	}
	if n := consumed(t, svc.URL); n != len(before)+len(after) {
		t.Fatalf("consumed %d records, want %d", n, len(before)+len(after))
	}
	if retries, _ := outageSum(m, "cdc_schema_lookup_retries_total"); retries < 1 {
		t.Fatalf("no lookup was retried (%v): the outage did not meet a lookup", retries)
	}
	reqs, _ := outageSum(m, "schema_registry_requests_total")
	if reqs > 40 {
		t.Fatalf("%v registry requests: the breaker did not hold them back", reqs)
	}
	retries, _ := outageSum(m, "cdc_schema_lookup_retries_total")
	cached, _ := outageSum(m, "schema_registry_cached_schemas")
	t.Logf("%d records, %v schemas cached, %v registry requests in all, %v lookups retried during the outage, 0 dead letters",
		len(before)+len(after), cached, reqs, retries)
	eventually(t, 30*time.Second, func() string {
		if r := outageReadyz(t, svc.URL); !r.healthy() {
			return fmt.Sprintf("/readyz after the outage: %+v", r)
		}
		return ""
	}, svc)

	// A record with a schema id the registry does not know.
	_, payload, _ := confluent.Split(after[0].Value)
	produce(t, k.Brokers(), []shopsim.Record{{Topic: "dbserver1.public.products", Key: []byte(`{"id":1}`), Value: confluent.Frame(9999, payload)}})
	letters := poisonReadDLQ(t, k.Brokers(), "inventory-service-dlq", 1)
	if len(letters) != 1 || letters[0].headers["error"] != "schema id 9999 not found in the registry" ||
		letters[0].headers["source_topic"] != "dbserver1.public.products" {
		t.Fatalf("dead letters %+v, want one with the reason", letters)
	}
	m = outageScrape(t, svc.URL)
	if n, _ := outageSum(m, "consumer_messages_failed_total", `error_type="schema"`); n != 1 {
		t.Fatalf("consumer_messages_failed_total{error_type=schema} = %v", n)
	}

	// A shutdown while a record waits for the registry is clean and leaves
	// the record uncommitted: the next instance reads it. (The record is a
	// redelivered product change with new schemas, decimal.handling.mode
	// double: its position was absorbed, so the state stays the oracle's.)
	var last []shopsim.Change
	for i := len(changes) - 1; i >= 0 && last == nil; i-- {
		if changes[i].Table == debezium.TableProducts && changes[i].Op == debezium.OpUpdate {
			last = changes[i : i+1]
		}
	}
	redo, err := shopsim.Encode(last, dbzenc.EncodeOptions{Format: dbzenc.FormatAvro, Decimal: dbzenc.DecimalDouble, Register: sr.Register})
	if err != nil || len(redo) != 1 {
		t.Fatalf("encode a redelivery: %d records, %v", len(redo), err)
	}
	sr.Stop()
	produce(t, k.Brokers(), redo)
	eventually(t, time.Minute, func() string {
		if n, _ := outageSum(outageScrape(t, svc.URL), "cdc_records_waiting_for_schema"); n != 1 {
			return fmt.Sprintf("%v records wait for the registry, want 1", n)
		}
		return ""
	}, svc)
	svc.Stop(t) // fails the test when the service stops with an error
	if err := sr.Resume(); err != nil {
		t.Fatal(err)
	}
	next := start(t, config.Inventory, app.Inventory, env, dyn, nil)
	defer next.Stop(t)
	eventually(t, 3*time.Minute, func() string {
		m := outageScrape(t, next.URL)
		processed, _ := outageSum(m, "cdc_messages_total", `topic="dbserver1.public.products"`, `outcome="processed"`)
		if dead, _ := outageSum(m, "cdc_dead_letters_total"); dead != 0 || processed < 1 {
			return fmt.Sprintf("the next instance processed %v products records and dead-lettered %v; want the waiting record processed", processed, dead)
		}
		return ""
	}, next)
	if d := compareAPI(t, next.URL, want, changes); d != "" {
		t.Fatal(d)
	}
}

// inventoryTopics keeps the records of the inventory-service's topics.
func inventoryTopics(recs []shopsim.Record) []shopsim.Record {
	var out []shopsim.Record
	for _, r := range recs {
		if r.Topic == "dbserver1.public.products" || r.Topic == "dbserver1.public.order_items" {
			out = append(out, r)
		}
	}
	return out
}
