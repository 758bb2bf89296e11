package debezium

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// sampleRecord is one line of the shared sample files: the Kafka topic and
// the JSON documents carried as key and value ("null" for a tombstone).
type sampleRecord struct {
	Topic string          `json:"topic"`
	Key   json.RawMessage `json:"key"`
	Value json.RawMessage `json:"value"`
}

func loadSamples(tb testing.TB, name string) []sampleRecord {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []sampleRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r sampleRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(out) == 0 {
		tb.Fatalf("%s: no samples", name)
	}
	return out
}

// sampleChange is what one line of the shared samples encodes. The money
// values are the base64 unscaled values of the samples, decoded by hand:
// "AuKB" = 0x02E281 = 189057 -> 1890.57, "CKeD" = 0x08A783 = 567171,
// "C4oE" = 0x0B8A04 = 756228, "DY0=" = 0x0D8D = 3469, "ALse" = 0x00BB1E =
// 47902, "AO+e" = 0x00EF9E = 61342, "AA==" = 0.
type sampleChange struct {
	topic  string
	table  string
	op     Op // 0 for the tombstone
	id     int64
	lsn    uint64
	tsMs   int64
	txID   int64
	before any
	after  any
}

const (
	espressoDesc   = "A rugged espresso machine with water resistant and low latency."
	headphonesDesc = "A ergonomic headphones with eco friendly packaging and fast charging."
)

// sampleChanges lists, line by line, the changes of envelope.jsonl (and, in
// flattened form, of flat.jsonl).
var sampleChanges = []sampleChange{
	{topic: "dbserver1.public.products", table: TableProducts, op: OpRead, id: 1, lsn: 16777245, tsMs: 1736931600000, txID: 500,
		after: &Product{ID: 1, Name: "Rugged USB-C Espresso Machine 1", Description: espressoDesc, PriceCents: 189057, StockQuantity: 167, CreatedAt: 1736931600000000, UpdatedAt: 1736931600000000}},
	{topic: "dbserver1.public.orders", table: TableOrders, op: OpCreate, id: 1, lsn: 16777313, tsMs: 1736931684000, txID: 501,
		after: &Order{ID: 1, CustomerID: 4998, TotalCents: 0, Status: "pending", CreatedAt: 1736931684000000, UpdatedAt: 1736931684000000}},
	{topic: "dbserver1.public.order_items", table: TableOrderItems, op: OpCreate, id: 1, lsn: 16777375, tsMs: 1736931684000, txID: 501,
		after: &OrderItem{ID: 1, OrderID: 1, ProductID: 1, Quantity: 2, PriceCents: 189057, CreatedAt: 1736931684000000}},
	{topic: "dbserver1.public.orders", table: TableOrders, op: OpUpdate, id: 1, lsn: 16777426, tsMs: 1736931684000, txID: 501,
		before: &Order{ID: 1, CustomerID: 4998, TotalCents: 0, Status: "pending", CreatedAt: 1736931684000000, UpdatedAt: 1736931684000000},
		after:  &Order{ID: 1, CustomerID: 4998, TotalCents: 567171, Status: "pending", CreatedAt: 1736931684000000, UpdatedAt: 1736931684000000}},
	{topic: "dbserver1.public.orders", table: TableOrders, op: OpUpdate, id: 10, lsn: 16779354, tsMs: 1736932197000, txID: 513,
		before: &Order{ID: 10, CustomerID: 2108, TotalCents: 756228, Status: "pending", CreatedAt: 1736932068000000, UpdatedAt: 1736932068000000},
		after:  &Order{ID: 10, CustomerID: 2108, TotalCents: 756228, Status: "processing", CreatedAt: 1736932068000000, UpdatedAt: 1736932068000000}},
	{topic: "dbserver1.public.products", table: TableProducts, op: OpCreate, id: 4, lsn: 16780723, tsMs: 1736932676000, txID: 523,
		after: &Product{ID: 4, Name: "Ergonomic Mini Headphones 4", Description: headphonesDesc, PriceCents: 3469, StockQuantity: 435, CreatedAt: 1736932676000000, UpdatedAt: 1736932676000000}},
	{topic: "dbserver1.public.order_items", table: TableOrderItems, op: OpDelete, id: 122, lsn: 16787450, tsMs: 1736934747000, txID: 567,
		before: &OrderItem{ID: 122, OrderID: 58, ProductID: 5, Quantity: 3, PriceCents: 47902, CreatedAt: 1736934565000000}},
	{topic: "dbserver1.public.order_items", table: TableOrderItems, id: 122}, // tombstone
	{topic: "dbserver1.public.products", table: TableProducts, op: OpUpdate, id: 1, lsn: 16790676, tsMs: 1736935763000, txID: 589,
		before: &Product{ID: 1, Name: "Rugged USB-C Espresso Machine 1", Description: espressoDesc, PriceCents: 189057, StockQuantity: 167, CreatedAt: 1736931600000000, UpdatedAt: 1736931600000000},
		after:  &Product{ID: 1, Name: "Rugged USB-C Espresso Machine 1", Description: espressoDesc, PriceCents: 61342, StockQuantity: 167, CreatedAt: 1736931600000000, UpdatedAt: 1736935763000000}},
	{topic: "dbserver1.public.order_items", table: TableOrderItems, op: OpUpdate, id: 157, lsn: 16794681, tsMs: 1736937183000, txID: 624,
		before: &OrderItem{ID: 157, OrderID: 73, ProductID: 1, Quantity: 3, PriceCents: 189057, CreatedAt: 1736935485000000},
		after:  &OrderItem{ID: 157, OrderID: 73, ProductID: 1, Quantity: 4, PriceCents: 189057, CreatedAt: 1736935485000000}},
}

// expectMessage builds the Message a change must decode to. Without before
// (flattened formats), before is dropped except for deletes, whose only
// image is the old row.
func expectMessage(c sampleChange, lsn uint64, withBefore bool) Message {
	m := Message{Table: c.table, ID: c.id}
	if c.op == 0 {
		m.Kind = KindTombstone
		return m
	}
	m.Kind, m.Op, m.Pos = KindChange, c.op, Position{LSN: lsn, TsMs: c.tsMs}
	if lsn != 0 {
		// The envelope samples carry source.sequence, naming as the last
		// commit the LSN 8 below the change's.
		m.Pos.Sequenced, m.Pos.Commit = true, lsn-8
	} else {
		// The flattened samples carry no sequence: a read is a snapshot row.
		m.Pos.Snapshot = c.op == OpRead
	}
	before := c.before
	if !withBefore && c.op != OpDelete {
		before = nil
	}
	setRows(&m, before, c.after)
	return m
}

// setRows stores typed rows into the matching Message fields.
func setRows(m *Message, before, after any) {
	switch b := before.(type) {
	case *Product:
		m.BeforeProduct = b
	case *Order:
		m.BeforeOrder = b
	case *OrderItem:
		m.BeforeItem = b
	}
	switch a := after.(type) {
	case *Product:
		m.AfterProduct = a
	case *Order:
		m.AfterOrder = a
	case *OrderItem:
		m.AfterItem = a
	}
}
