package inventory

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

// commitOrderRecords reads testdata/commit_order.jsonl: genuine Debezium
// envelopes (schema wrapper, precise decimals, source.sequence as the
// PostgreSQL connector writes it) of what a real PostgreSQL 15 did with two
// concurrent transactions. Product 1 is snapshotted with stock 50;
// transaction 730 restocks it to 100, written at 0/15337A0 and committed
// first (0/1533868); transaction 729 inserts an order line of 3, written
// earlier, at 0/15336A8, but committed after 730. In commit order the stock
// is 50, 100, then 97. The line's LSN is lower than the restock's, its
// commit position (source.sequence) higher.
func commitOrderRecords(t *testing.T) []record {
	t.Helper()
	f, err := os.Open("testdata/commit_order.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []record
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r struct {
			Topic string          `json:"topic"`
			Key   json.RawMessage `json:"key"`
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, record{topic: r.Topic, key: r.Key, value: r.Value})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records in testdata/commit_order.jsonl, want 3", len(recs))
	}
	return recs
}

// TestLaterCommitWithLowerLSN: an order line committed after a restock is
// taken from the restocked stock even though it was written at a lower LSN,
// whichever topic is read first, and a connector replay of all of it
// changes nothing.
func TestLaterCommitWithLowerLSN(t *testing.T) {
	recs := commitOrderRecords(t)
	for name, order := range map[string][]int{
		"commit order":           {0, 1, 2},
		"order_items read first": {2, 0, 1},
		"products behind":        {0, 2, 1},
	} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t, envelope)
			for _, i := range order {
				h.raw(recs[i].topic, recs[i].key, recs[i].value)
			}
			if got := h.stock(1); got != 97 {
				t.Fatalf("stock of product 1 = %d, want 97 (50, restocked to 100, then an order line of 3 committed after the restock)", got)
			}
			h.replayAll()
			if got := h.stock(1); got != 97 {
				t.Fatalf("after a replay, stock of product 1 = %d, want 97", got)
			}
		})
	}
}

// TestUnchangedToastKeepsTheDescription: a product update that left a
// TOASTed description alone (REPLICA IDENTITY DEFAULT: the placeholder, no
// before image) keeps the description the product had.
func TestUnchangedToastKeepsTheDescription(t *testing.T) {
	h := newHarness(t, envelope)
	change := func(op, description string, stock int, commit, lsn uint64) {
		value := fmt.Appendf(nil, `{"before":null,"after":{"id":1,"name":"Espresso Machine","description":%q,"price":"AYag","stock_quantity":%d,"created_at":1736931600000000,"updated_at":null},`+
			`"source":{"version":"2.7.3.Final","connector":"postgresql","name":"dbserver1","ts_ms":%d,"snapshot":"false","db":"ecommerce","sequence":"[\"%d\",\"%d\"]","schema":"public","table":"products","txId":9,"lsn":%d,"xmin":null},`+
			`"op":%q,"ts_ms":%d,"transaction":null}`, description, stock, tsStart+int64(lsn), commit, lsn, lsn, op, tsStart+int64(lsn))
		h.raw(string(pTopic), []byte(`{"id":1}`), value)
	}
	change("c", "rich crema every morning", 20, 10, 20)
	change("u", "__debezium_unavailable_value", 30, 30, 40)
	p := h.product(1)
	if p == nil || p.Description != "rich crema every morning" || p.Available() != 30 {
		t.Fatalf("product %+v, want stock 30 and the description of the insert", p)
	}
}
