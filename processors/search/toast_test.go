package search

import (
	"fmt"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// productChange renders a schemaless Debezium envelope of a products change
// under REPLICA IDENTITY DEFAULT (no before image), with source.sequence.
func productChange(op string, id int64, name, description string, commit, lsn uint64) (key, value []byte) {
	key = fmt.Appendf(nil, `{"id":%d}`, id)
	value = fmt.Appendf(nil, `{"before":null,"after":{"id":%d,"name":%q,"description":%q,"price":"AYag","stock_quantity":5,"created_at":1736931600000000,"updated_at":null},`+
		`"source":{"version":"2.7.3.Final","connector":"postgresql","name":"dbserver1","ts_ms":%d,"snapshot":"false","db":"ecommerce","sequence":"[\"%d\",\"%d\"]","schema":"public","table":"products","txId":9,"lsn":%d,"xmin":null},`+
		`"op":%q,"ts_ms":%d,"transaction":null}`, id, name, description, tsStart+int64(lsn), commit, lsn, lsn, op, tsStart+int64(lsn))
	return key, value
}

const placeholder = "__debezium_unavailable_value"

// TestUnchangedToastKeepsTheDescription: an update that left a TOASTed
// description alone carries the placeholder; the document keeps the
// description's words and never indexes the placeholder.
func TestUnchangedToastKeepsTheDescription(t *testing.T) {
	h := newHarness(t, envelope)
	k, v := productChange("c", 1, "Espresso Machine", "rich crema every morning", 10, 20)
	h.raw(string(pTopic), k, v)
	k, v = productChange("u", 1, "Espresso Machine Pro", placeholder, 30, 40)
	h.raw(string(pTopic), k, v)
	d := h.doc(1)
	if d == nil || d.Description != "rich crema every morning" || d.Name != "Espresso Machine Pro" {
		t.Fatalf("document %+v, want the new name and the description of the insert", d)
	}
	toks := Tokens(d)
	if !slices.Contains(toks, "crema") || slices.Contains(toks, placeholder) {
		t.Fatalf("tokens %v: want the description's words and not the placeholder", toks)
	}

	// A product first seen through such an update has no description to
	// keep: it is indexed empty and counted.
	before := counterValue(t, h.metrics.Unresolved)
	k, v = productChange("u", 2, "Grinder", placeholder, 50, 60)
	h.raw(string(pTopic), k, v)
	if d := h.doc(2); d == nil || !d.Live || d.Description != "" {
		t.Fatalf("document %+v, want a live document with an empty description", d)
	}
	if got := counterValue(t, h.metrics.Unresolved) - before; got != 1 {
		t.Fatalf("search_unchanged_toast_unresolved_total rose by %v, want 1", got)
	}
}
