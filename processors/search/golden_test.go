package search

import (
	"testing"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/processors/delivery"
	"github.com/cdcflow/cdcflow/testkit/golden"
)

// TestGoldenStateV1 decodes table values written by the release that
// introduced layout version 1 (testdata/state/v1).
func TestGoldenStateV1(t *testing.T) {
	live := &Doc{
		Rev:     4,
		Applied: delivery.Applied{Pos: debezium.Position{Sequenced: true, Commit: 0x2000, LSN: 0x2010, TsMs: 1736931600500}},
		Live:    true,
		Name:    "Mechanical Keyboard", Description: "Brown switches, ünïcode",
		PriceCents: 12950, Stock: 12, CDCTsMs: 1736931600500,
	}
	deleted := &Doc{
		Rev: 5, Deleted: true,
		Applied: delivery.Applied{Pos: debezium.Position{TsMs: 1736931600999}, Prints: []uint64{0xDEADBEEF}},
	}
	for name, v := range map[string]*Doc{"doc": live, "doc-deleted": deleted} {
		t.Run(name, func(t *testing.T) {
			golden.Check(t, "testdata/state/v1/"+name+".bin", DocCodec{}, v, true)
		})
	}
}
