package dbzenc

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/cdcflow/cdcflow/codecs/debezium"
)

// sampleRecord is one line of the shared sample files (a copy of
// CONTRACT's samples/*.jsonl in testdata): the Kafka topic and the JSON
// documents carried as key and value ("null" for a tombstone).
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

// sampleChange is what one line of the samples encodes, read off the
// sample by hand. Money: the base64 unscaled values "AuKB" = 0x02E281 =
// 189057 (1890.57), "CKeD" = 567171, "C4oE" = 756228, "DY0=" = 3469,
// "ALse" = 47902, "AO+e" = 61342, "AA==" = 0.
type sampleChange struct {
	table  string
	op     debezium.Op // 0 for the tombstone
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
	{table: debezium.TableProducts, op: debezium.OpRead, id: 1, lsn: 16777245, tsMs: 1736931600000, txID: 500,
		after: &debezium.Product{ID: 1, Name: "Rugged USB-C Espresso Machine 1", Description: espressoDesc, PriceCents: 189057, StockQuantity: 167, CreatedAt: 1736931600000000, UpdatedAt: 1736931600000000}},
	{table: debezium.TableOrders, op: debezium.OpCreate, id: 1, lsn: 16777313, tsMs: 1736931684000, txID: 501,
		after: &debezium.Order{ID: 1, CustomerID: 4998, TotalCents: 0, Status: "pending", CreatedAt: 1736931684000000, UpdatedAt: 1736931684000000}},
	{table: debezium.TableOrderItems, op: debezium.OpCreate, id: 1, lsn: 16777375, tsMs: 1736931684000, txID: 501,
		after: &debezium.OrderItem{ID: 1, OrderID: 1, ProductID: 1, Quantity: 2, PriceCents: 189057, CreatedAt: 1736931684000000}},
	{table: debezium.TableOrders, op: debezium.OpUpdate, id: 1, lsn: 16777426, tsMs: 1736931684000, txID: 501,
		before: &debezium.Order{ID: 1, CustomerID: 4998, TotalCents: 0, Status: "pending", CreatedAt: 1736931684000000, UpdatedAt: 1736931684000000},
		after:  &debezium.Order{ID: 1, CustomerID: 4998, TotalCents: 567171, Status: "pending", CreatedAt: 1736931684000000, UpdatedAt: 1736931684000000}},
	{table: debezium.TableOrders, op: debezium.OpUpdate, id: 10, lsn: 16779354, tsMs: 1736932197000, txID: 513,
		before: &debezium.Order{ID: 10, CustomerID: 2108, TotalCents: 756228, Status: "pending", CreatedAt: 1736932068000000, UpdatedAt: 1736932068000000},
		after:  &debezium.Order{ID: 10, CustomerID: 2108, TotalCents: 756228, Status: "processing", CreatedAt: 1736932068000000, UpdatedAt: 1736932068000000}},
	{table: debezium.TableProducts, op: debezium.OpCreate, id: 4, lsn: 16780723, tsMs: 1736932676000, txID: 523,
		after: &debezium.Product{ID: 4, Name: "Ergonomic Mini Headphones 4", Description: headphonesDesc, PriceCents: 3469, StockQuantity: 435, CreatedAt: 1736932676000000, UpdatedAt: 1736932676000000}},
	{table: debezium.TableOrderItems, op: debezium.OpDelete, id: 122, lsn: 16787450, tsMs: 1736934747000, txID: 567,
		before: &debezium.OrderItem{ID: 122, OrderID: 58, ProductID: 5, Quantity: 3, PriceCents: 47902, CreatedAt: 1736934565000000}},
	{table: debezium.TableOrderItems, id: 122}, // tombstone
	{table: debezium.TableProducts, op: debezium.OpUpdate, id: 1, lsn: 16790676, tsMs: 1736935763000, txID: 589,
		before: &debezium.Product{ID: 1, Name: "Rugged USB-C Espresso Machine 1", Description: espressoDesc, PriceCents: 189057, StockQuantity: 167, CreatedAt: 1736931600000000, UpdatedAt: 1736931600000000},
		after:  &debezium.Product{ID: 1, Name: "Rugged USB-C Espresso Machine 1", Description: espressoDesc, PriceCents: 61342, StockQuantity: 167, CreatedAt: 1736931600000000, UpdatedAt: 1736935763000000}},
	{table: debezium.TableOrderItems, op: debezium.OpUpdate, id: 157, lsn: 16794681, tsMs: 1736937183000, txID: 624,
		before: &debezium.OrderItem{ID: 157, OrderID: 73, ProductID: 1, Quantity: 3, PriceCents: 189057, CreatedAt: 1736935485000000},
		after:  &debezium.OrderItem{ID: 157, OrderID: 73, ProductID: 1, Quantity: 4, PriceCents: 189057, CreatedAt: 1736935485000000}},
}

// sampleSource is the source block of a sample line: the sample generator
// printed sequence ["lsn-8","lsn"] and an envelope ts_ms 3 ms after the
// commit. The flattened samples carry no LSN.
func sampleSource(c sampleChange, withLSN bool) Source {
	src := Source{TsMs: c.tsMs, TxID: c.txID, EventTsMs: c.tsMs + 3}
	if withLSN {
		src.LSN, src.LastCommitLSN = c.lsn, c.lsn-8
	}
	return src
}
