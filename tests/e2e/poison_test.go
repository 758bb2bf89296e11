package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/internal/app"
	"github.com/cdcflow/cdcflow/internal/config"
	"github.com/cdcflow/cdcflow/testkit/testenv"
	"github.com/cdcflow/cdcflow/tools/dbzenc"
	"github.com/cdcflow/cdcflow/tools/oracle"
	"github.com/cdcflow/cdcflow/tools/shopsim"
)

// Topics of the poison test (CONTRACT §1) and the services reading them.
const (
	poisonProducts = "dbserver1.public.products"
	poisonOrders   = "dbserver1.public.orders"
	poisonItems    = "dbserver1.public.order_items"
	poisonDLQ      = "dead-letters" // DLQ_S3_BUCKET of all three services
)

var poisonReaders = map[string][]string{
	"inventory-service": {poisonProducts, poisonItems},
	"analytics-service": {poisonOrders, poisonItems},
	"search-indexer":    {poisonProducts},
}

// poison is one record that no service can use, and where it landed.
type poison struct {
	name       string
	topic      string
	key, value []byte
	reason     string // a substring the dead letter's error header must hold

	partition int32 // set once produced
	offset    int64
}

// poisonAfter returns a copy of a real record's value with its row image
// ("after", in the payload of the schema wrapper) changed by edit.
func poisonAfter(t *testing.T, value []byte, edit func(after map[string]any)) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("poison: decode a real record: %v", err)
	}
	payload := doc
	if p, ok := doc["payload"].(map[string]any); ok {
		payload = p
	}
	after, ok := payload["after"].(map[string]any)
	if !ok {
		t.Fatalf("poison: the record has no row image: %.200s", value)
	}
	edit(after)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// poisonPick returns the n-th record (from the end when n < 0) of topic
// carrying an insert or update, whose key is a real entity's.
func poisonPick(t *testing.T, recs []shopsim.Record, topic string, n int) shopsim.Record {
	t.Helper()
	var cands []shopsim.Record
	for _, r := range recs {
		if r.Topic == topic && r.Change != nil && (r.Change.Op == debezium.OpCreate || r.Change.Op == debezium.OpUpdate) {
			cands = append(cands, r)
		}
	}
	if len(cands) < 10 {
		t.Fatalf("poison: only %d inserts and updates on %s", len(cands), topic)
	}
	if n < 0 {
		n += len(cands)
	}
	return cands[n]
}

// poisonCases builds the poison of the test from real records of recs:
// each kind the contract names (not JSON, truncated, wrong types, missing
// required columns, invalid DECIMAL bytes, binary garbage), most with the
// Kafka key of a real product, order or line, plus rows of another table.
func poisonCases(t *testing.T, recs []shopsim.Record, rng *rand.Rand) []*poison {
	garbage := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		b[0] = 0xff // never the start of a JSON document
		return b
	}
	p, p2 := poisonPick(t, recs, poisonProducts, 3), poisonPick(t, recs, poisonProducts, -3)
	o, o2 := poisonPick(t, recs, poisonOrders, 5), poisonPick(t, recs, poisonOrders, -5)
	i, i2 := poisonPick(t, recs, poisonItems, 7), poisonPick(t, recs, poisonItems, -7)
	return []*poison{
		{name: "products: not JSON", topic: poisonProducts, key: p.Key, value: []byte("product 1 is now 5 units {"), reason: "not JSON"},
		{name: "products: truncated", topic: poisonProducts, key: p.Key, value: p.Value[:len(p.Value)/2], reason: "not JSON"},
		{name: "products: stock_quantity \"abc\"", topic: poisonProducts, key: p2.Key, reason: "stock_quantity",
			value: poisonAfter(t, p2.Value, func(a map[string]any) { a["stock_quantity"] = "abc" })},
		{name: "products: price bytes not base64", topic: poisonProducts, key: p.Key, reason: "price",
			value: poisonAfter(t, p.Value, func(a map[string]any) { a["price"] = "%%not-base64%%" })},
		{name: "products: name missing", topic: poisonProducts, key: p2.Key, reason: "name",
			value: poisonAfter(t, p2.Value, func(a map[string]any) { delete(a, "name") })},
		{name: "products: binary garbage", topic: poisonProducts, key: nil, value: garbage(64), reason: "not JSON"},
		{name: "products: an order row", topic: poisonProducts, key: p.Key, value: o.Value, reason: `carries a "orders" row`},
		{name: "orders: customer_id \"abc\"", topic: poisonOrders, key: o.Key, reason: "customer_id",
			value: poisonAfter(t, o.Value, func(a map[string]any) { a["customer_id"] = "abc" })},
		{name: "orders: status missing", topic: poisonOrders, key: o2.Key, reason: "status",
			value: poisonAfter(t, o2.Value, func(a map[string]any) { delete(a, "status") })},
		{name: "orders: truncated", topic: poisonOrders, key: o2.Key, value: o2.Value[:len(o2.Value)*2/3], reason: "not JSON"},
		{name: "orders: JSON array", topic: poisonOrders, key: o.Key, value: []byte(`[1,2,3]`), reason: "not a JSON object"},
		{name: "orders: binary garbage", topic: poisonOrders, key: garbage(8), value: garbage(200), reason: "not JSON"},
		{name: "order_items: quantity \"abc\"", topic: poisonItems, key: i.Key, reason: "quantity",
			value: poisonAfter(t, i.Value, func(a map[string]any) { a["quantity"] = "abc" })},
		{name: "order_items: price bytes not base64", topic: poisonItems, key: i2.Key, reason: "price",
			value: poisonAfter(t, i2.Value, func(a map[string]any) { a["price"] = "!!" })},
		{name: "order_items: quantity missing", topic: poisonItems, key: i2.Key, reason: "quantity",
			value: poisonAfter(t, i2.Value, func(a map[string]any) { delete(a, "quantity") })},
		{name: "order_items: not JSON", topic: poisonItems, key: i.Key, value: []byte("<html>502 Bad Gateway</html>"), reason: "not JSON"},
	}
}

// poisonRedeliver returns copies of cases: the same records produced again
// (at other offsets), each a dead letter of its own.
func poisonRedeliver(cases []*poison) []*poison {
	out := make([]*poison, len(cases))
	for i, c := range cases {
		cp := *c
		cp.name += " (produced again)"
		out[i] = &cp
	}
	return out
}

// poisonMix inserts the poison at random places of recs.
func poisonMix(recs []shopsim.Record, cases []*poison, rng *rand.Rand) []any {
	out := make([]any, 0, len(recs)+len(cases))
	for _, r := range recs {
		out = append(out, r)
	}
	for _, c := range cases {
		at := rng.IntN(len(out) + 1)
		out = slices.Insert(out, at, any(c))
	}
	return out
}

// poisonProduce writes the mixed records in order and notes where each
// poison landed.
func poisonProduce(t *testing.T, brokers []string, mixed []any) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ProducerLinger(2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const batch = 2000
	for from := 0; from < len(mixed); from += batch {
		krs := make([]*kgo.Record, 0, batch)
		var poisoned []*poison
		var theirs []*kgo.Record
		for _, m := range mixed[from:min(from+batch, len(mixed))] {
			switch r := m.(type) {
			case shopsim.Record:
				krs = append(krs, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
			case *poison:
				kr := &kgo.Record{Topic: r.topic, Key: r.key, Value: r.value}
				krs = append(krs, kr)
				poisoned, theirs = append(poisoned, r), append(theirs, kr)
			}
		}
		if err := cl.ProduceSync(ctx, krs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		for i, p := range poisoned {
			p.partition, p.offset = theirs[i].Partition, theirs[i].Offset
		}
	}
}

// poisonLetter is one record of a dead-letter topic.
type poisonLetter struct {
	key, value []byte
	headers    map[string]string
}

// poisonReadDLQ reads the whole dead-letter topic: until at least want
// records came, then until nothing more arrives for two seconds.
func poisonReadDLQ(t *testing.T, brokers []string, topic string, want int) []poisonLetter {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []poisonLetter
	deadline := time.Now().Add(time.Minute)
	for {
		wait := 2 * time.Second
		if len(out) < want {
			wait = time.Until(deadline)
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		fs := cl.PollFetches(ctx)
		cancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			h := map[string]string{}
			for _, kv := range r.Headers {
				h[kv.Key] = string(kv.Value)
			}
			out = append(out, poisonLetter{key: r.Key, value: r.Value, headers: h})
			n++
		})
		for _, e := range fs.Errors() {
			if !errors.Is(e.Err, context.DeadlineExceeded) {
				t.Fatalf("read %s: %v", topic, e.Err)
			}
		}
		if n == 0 && (len(out) >= want || time.Now().After(deadline)) {
			return out
		}
	}
}

// poisonCheckDLQ checks that the dead letters of a service are exactly its
// poison records, once each, with the contract's headers and the reason.
func poisonCheckDLQ(service string, letters []poisonLetter, cases []*poison, started time.Time) string {
	var d diffs
	type coord struct {
		topic     string
		partition int32
		offset    int64
	}
	byCoord := map[coord]*poison{}
	for _, c := range cases {
		if slices.Contains(poisonReaders[service], c.topic) {
			byCoord[coord{c.topic, c.partition, c.offset}] = c
		}
	}
	seen := map[coord]int{}
	for _, l := range letters {
		p, err1 := strconv.ParseInt(l.headers["source_partition"], 10, 32)
		o, err2 := strconv.ParseInt(l.headers["source_offset"], 10, 64)
		c := coord{l.headers["source_topic"], int32(p), o}
		if err1 != nil || err2 != nil {
			d.add("%s: dead letter with headers %v", service, l.headers)
			continue
		}
		seen[c]++
		want, ok := byCoord[c]
		if !ok {
			d.add("%s: dead letter of %s/%d/%d, which is not poison (error %q)", service, c.topic, c.partition, c.offset, l.headers["error"])
			continue
		}
		if !bytes.Equal(l.key, want.key) || !bytes.Equal(l.value, want.value) {
			d.add("%s: dead letter of %q: key/value differ from the record's", service, want.name)
		}
		if !strings.Contains(l.headers["error"], want.reason) {
			d.add("%s: dead letter of %q: error %q does not name %q", service, want.name, l.headers["error"], want.reason)
		}
		if l.headers["service"] != service {
			d.add("%s: dead letter of %q: service header %q", service, want.name, l.headers["service"])
		}
		ms, err := strconv.ParseInt(l.headers["source_timestamp"], 10, 64)
		if err != nil || time.UnixMilli(ms).Before(started.Add(-time.Minute)) || time.UnixMilli(ms).After(time.Now()) {
			d.add("%s: dead letter of %q: source_timestamp %q is not the record's time", service, want.name, l.headers["source_timestamp"])
		}
	}
	for c, p := range byCoord {
		if seen[c] != 1 {
			d.add("%s: %q (%s/%d/%d) has %d dead letters, want exactly 1", service, p.name, c.topic, c.partition, c.offset, seen[c])
		}
	}
	return d.String()
}

// poisonCheckArchive checks the S3 archive of a service's dead letters: one
// object per poison record, holding the record and its reason.
func poisonCheckArchive(s3c *s3.Client, service string, cases []*poison) string {
	keys, err := outageList(s3c, poisonDLQ, "dlq/"+service+"/")
	if err != nil {
		return err.Error()
	}
	var d diffs
	want := map[string]*poison{}
	for _, c := range cases {
		if slices.Contains(poisonReaders[service], c.topic) {
			want[fmt.Sprintf("dlq/%s/%s/", service, c.topic)+"|"+fmt.Sprintf("_p%d_o%d.json", c.partition, c.offset)] = c
		}
	}
	found := map[*poison]int{}
	for _, k := range keys {
		var match *poison
		for prefixSuffix, c := range want {
			prefix, suffix, _ := strings.Cut(prefixSuffix, "|")
			if strings.HasPrefix(k, prefix) && strings.HasSuffix(k, suffix) {
				match = c
			}
		}
		if match == nil {
			d.add("%s: archived object %s is no poison record's", service, k)
			continue
		}
		found[match]++
		out, err := s3c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(poisonDLQ), Key: aws.String(k)})
		if err != nil {
			return fmt.Sprintf("get %s: %v", k, err)
		}
		var doc struct {
			Topic, Message, Error, Timestamp, Service string
			MessageEncoding                           string `json:"message_encoding"`
		}
		err = json.NewDecoder(out.Body).Decode(&doc)
		out.Body.Close()
		msg := doc.Message
		if doc.MessageEncoding == "base64" {
			b, _ := base64.StdEncoding.DecodeString(doc.Message)
			msg = string(b)
		}
		if err != nil || doc.Topic != match.topic || msg != string(match.value) || !strings.Contains(doc.Error, match.reason) ||
			doc.Service != service || doc.Timestamp == "" {
			d.add("%s: archived %s of %q: %+v (decode error %v)", service, k, match.name, doc, err)
		}
	}
	for _, c := range want {
		if found[c] != 1 {
			d.add("%s: %q archived %d times, want once", service, c.name, found[c])
		}
	}
	return d.String()
}

// TestChaosPoison mixes poison into a real stream read by all three
// services: records that are not JSON, truncated, with wrong types, with a
// required column missing, with invalid DECIMAL bytes, binary garbage, rows
// of another table, most of them with the Kafka key of a real product,
// order or line; some are produced twice. The inventory-service is
// restarted half-way (its committed offsets must keep it from dead-lettering
// anything twice). Every poison record must land in the dead-letter topic
// of every service reading its topic exactly once, with its reason and the
// contract's headers, and in the S3 archive once; and every output must
// equal the oracle computed from the real changes alone.
func TestChaosPoison(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	const seed = 51
	n := 3000
	if chaosLong {
		n = 20000
	}
	started := time.Now()
	rng := rand.New(rand.NewPCG(seed, seed))
	ctx := context.Background()
	db := testenv.Dynalite(t)
	dyn, err := db.Client(ctx)
	if err != nil {
		t.Fatal(err)
	}
	k := startKafka(t)
	srv, s3c := outageStartS3(t, anBucket, poisonDLQ)
	_ = srv

	changes := shopsim.New(shopsim.Config{Seed: seed, Products: 200}).Generate(n)
	recs, err := shopsim.Encode(changes, dbzenc.EncodeOptions{Format: dbzenc.FormatEnvelope})
	if err != nil {
		t.Fatal(err)
	}
	recs = shopsim.WithReplays(recs, seed, shopsim.Replay{Every: 800, Back: 100})
	first, firstCases := recs[:len(recs)*6/10], poisonCases(t, recs, rng)
	// The second half: the rest of the stream, new poison, and the first
	// half's poison records produced again.
	rest := recs[len(recs)*6/10:]
	restCases := append(poisonCases(t, rest, rng), poisonRedeliver(firstCases)...)
	cases := append(slices.Clone(firstCases), restCases...)

	poisonProduce(t, k.Brokers(), poisonMix(first, firstCases, rng))
	brokers := strings.Join(k.Brokers(), ",")
	env := func(table string) map[string]string {
		e := map[string]string{"KAFKA_BOOTSTRAP_SERVERS": brokers, "DLQ_S3_BUCKET": poisonDLQ}
		if table != "" {
			e["DYNAMODB_TABLE"] = table
		} else {
			e["S3_BUCKET"], e["FLUSH_INTERVAL"] = anBucket, "1"
		}
		return e
	}
	inv := start(t, config.Inventory, app.Inventory, env("inventory-realtime"), dyn, s3c)
	an := start(t, config.Analytics, app.Analytics, env(""), nil, s3c)
	search := start(t, config.Search, app.Search, env(searchTable), dyn, s3c)
	svcs := map[string]*service{"inventory-service": inv, "analytics-service": an, "search-indexer": search}
	defer func() {
		for _, s := range svcs {
			s.Stop(t)
		}
	}()
	records := func(recs []shopsim.Record, cases []*poison, topics []string) int {
		n := 0
		for _, r := range recs {
			if slices.Contains(topics, r.Topic) {
				n++
			}
		}
		for _, c := range cases {
			if slices.Contains(topics, c.topic) {
				n++
			}
		}
		return n
	}
	invFirst := records(first, firstCases, poisonReaders["inventory-service"])
	eventually(t, 3*time.Minute, func() string {
		if got := consumed(t, inv.URL); got < invFirst {
			return fmt.Sprintf("inventory-service consumed %d of %d records of the first part", got, invFirst)
		}
		return ""
	}, inv)
	// Its dead letters of the first part are in Kafka; stop it and start it
	// again: it must go on from its committed offsets.
	poisonReadDLQ(t, k.Brokers(), "inventory-service-dlq", records(nil, firstCases, poisonReaders["inventory-service"]))
	inv.Stop(t)
	inv = start(t, config.Inventory, app.Inventory, env("inventory-realtime"), dyn, s3c)
	svcs["inventory-service"] = inv
	poisonProduce(t, k.Brokers(), poisonMix(rest, restCases, rng))

	// Every service consumes everything.
	for name, s := range svcs {
		want := records(recs, cases, poisonReaders[name])
		if name == "inventory-service" {
			want -= invFirst // the restarted instance counts from its start
		}
		eventually(t, 3*time.Minute, func() string {
			if got := consumed(t, s.URL); got < want {
				return fmt.Sprintf("%s consumed %d of %d records", name, got, want)
			}
			return ""
		}, s)
	}

	// The outputs equal the oracle of the real changes.
	wantInv := oracle.ExpectInventory(changes)
	eventually(t, 3*time.Minute, func() string { return compareDynamo(t, dyn, wantInv) }, inv)
	if d := compareAPI(t, inv.URL, wantInv, changes); d != "" {
		t.Error(d)
	}
	wantSearch := oracle.ExpectSearch(changes)
	sc := searchCatalogueOf(changes, wantSearch)
	eventually(t, 3*time.Minute, func() string { return compareSearchDynamo(dyn, wantSearch, sc) }, search)
	eventually(t, time.Minute, func() string { return compareSearchProducts(t, search.URL, wantSearch, sc) }, search)
	wantAn := oracle.ExpectAnalytics(changes)
	eventually(t, 3*time.Minute, func() string { return anCompareAll(t, s3c, an.URL, wantAn, started, time.Time{}, anObjectCache{}) }, an)

	// Dead letters: exactly the poison, once each, in Kafka and in S3.
	total := 0
	for name, s := range svcs {
		want := records(nil, cases, poisonReaders[name])
		letters := poisonReadDLQ(t, k.Brokers(), name+"-dlq", want)
		if d := poisonCheckDLQ(name, letters, cases, started); d != "" {
			t.Error(d)
		}
		eventually(t, time.Minute, func() string { return poisonCheckArchive(s3c, name, cases) }, s)
		m := outageScrape(t, s.URL)
		dead, _ := outageSum(m, "cdc_dead_letters_total")
		if name == "inventory-service" {
			// The restarted instance counts the second part's only.
			if w := records(nil, restCases, poisonReaders[name]); int(dead) != w {
				t.Errorf("%s: cdc_dead_letters_total = %v after the restart, want %d", name, dead, w)
			}
		} else if int(dead) != want {
			t.Errorf("%s: cdc_dead_letters_total = %v, want %d", name, dead, want)
		}
		archived, _ := outageSum(m, "dlq_s3_archived_total")
		if name != "inventory-service" && int(archived) != want {
			t.Errorf("%s: dlq_s3_archived_total = %v, want %d", name, archived, want)
		}
		t.Logf("%s: %d poison records on its topics, %d dead letters in %s-dlq, cdc_dead_letters_total %v, dlq_s3_archived_total %v",
			name, want, len(letters), name, dead, archived)
		total += want
	}
	t.Logf("%d changes (%d records with replays), %d poison records (%d produced twice); %d dead letters expected over the three services",
		len(changes), len(recs), len(cases), len(firstCases), total)
}
