package kafka

import (
	"bytes"
	"encoding/json"
	"log"
	"log/slog"
	"strings"
	"testing"

	"github.com/IBM/sarama"
)

// Lines Goka and Sarama really write (their format strings, filled in),
// with the kind each must get.
var libraryLines = []struct {
	line string
	kind int
}{
	{"[Processor search-indexer-group] setup generation 3, claims=map[string][]int32{\"dbserver1.public.products\":[]int32{0, 1, 2}}", KindRoutine},
	{"[Processor search-indexer-group] Consumer group returned, Rebalancing.", KindRoutine},
	{"[Processor x] Committing storage after recovery for topic/partition x-table/0 since 2 seconds", KindRoutine},
	{"[Processor x] error processing message (non-transient), shutting down processor: decode: bad", KindFailure},
	{"[Processor x] setup error (non-transient), shutting down processor: topic missing", KindFailure},
	{"[Processor x] error during execution of consumer group: kafka: client has run out of available brokers", KindFailure},
	{"[Processor x] error during execution of consumer group: context canceled", KindRoutine},
	{"[View x-table] Error while starting up: kafka: client has run out of available brokers to talk to", KindFailure},
	{"[View x-table] Will retry in 10 seconds (retried 1 times so far)", KindWarning},
	{"Error: local offset is higher than partition offset. topic x-table, partition 0, hwm 0, local offset 10.", KindFailure},
	{"[PartitionProcessor (0)] partition processor did not shutdown in time. Will stop waiting", KindWarning},
	{"received message in topic x-table, partition 1 after catchup. Another processor is still producing messages. Ignoring message.", KindWarning},
	{"no out stats for topic x-loop", KindRoutine},
	{"Connected to broker at 127.0.0.1:9092 (registered as #0)", KindRoutine},
	{"client/metadata fetching metadata for all topics from broker 127.0.0.1:9092", KindRoutine},
	{"consumer/broker/0 added subscription to dbserver1.public.products/1", KindRoutine},
	{"Failed to connect to broker 127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused", KindFailure},
	{"client/metadata got error from broker -1 while fetching metadata: EOF", KindFailure},
	{"client/metadata failed SASL authentication", KindFailure},
	{"client/metadata retrying after 250ms... (3 attempts remaining)", KindWarning},
	{"consumer/broker/0 abandoned subscription to t/0 because consuming was taking too long", KindWarning},
	{"txnmgr/init-producer-id [] successful init producer id &{ThrottleTime:0s Err:kafka server: Not an error, why are you printing me? Version:1}", KindRoutine},
	{"SASL authentication succeeded", KindRoutine},
}

func TestLineKind(t *testing.T) {
	for _, c := range libraryLines {
		if got := LineKind(c.line); got != c.kind {
			t.Errorf("LineKind(%q) = %d, want %d", c.line, got, c.kind)
		}
	}
}

// jsonLines parses the JSON lines of buf; a line that is not JSON fails t.
func jsonLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		out = append(out, m)
	}
	return out
}

// The levels each library's lines are logged at: Goka's routine lines INFO,
// its warnings WARN, its errors ERROR; Sarama's routine lines and warnings
// DEBUG, its errors WARN.
func TestLoggerLevels(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	g, s := GokaLogger(base), SaramaLogger(base)
	g.Printf("setup generation %d, claims=%v", 3, "x")
	g.Printf("Will retry in %.0f seconds", 10.0)
	g.Printf("error processing message (non-transient), shutting down processor: %v", "bad")
	s.Println("Connected to broker at", "127.0.0.1:9092")
	s.Printf("client/metadata retrying after %dms", 250)
	s.Print("Failed to connect to broker 127.0.0.1:1: connection refused")
	want := []struct{ level, component, msg string }{
		{"INFO", "goka", "setup generation 3, claims=x"},
		{"WARN", "goka", "Will retry in 10 seconds"},
		{"ERROR", "goka", "error processing message (non-transient), shutting down processor: bad"},
		{"DEBUG", "sarama", "Connected to broker at 127.0.0.1:9092"},
		{"DEBUG", "sarama", "client/metadata retrying after 250ms"},
		{"WARN", "sarama", "Failed to connect to broker 127.0.0.1:1: connection refused"},
	}
	got := jsonLines(t, &buf)
	if len(got) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(got), len(want), buf.String())
	}
	for i, w := range want {
		if got[i]["level"] != w.level || got[i]["component"] != w.component || got[i]["msg"] != w.msg {
			t.Errorf("line %d: %v, want %+v", i, got[i], w)
		}
	}
}

// A SaramaLogger is a sarama.StdLogger (what Main sets sarama.Logger to;
// not set here: other tests' Sarama clients may be running), and the
// standard library's log package, routed through a Logger, writes JSON
// lines at the mapped levels.
func TestGlobalLoggersWriteJSON(t *testing.T) {
	var buf bytes.Buffer
	base := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var sl sarama.StdLogger = SaramaLogger(base)
	sl.Printf("client/metadata got error from broker %d while fetching metadata: %v\n", -1, "EOF")
	std := log.New(GokaLogger(base), "", 0)
	std.Printf("no out stats for topic %s", "x-loop")
	std.Print("two\nlines")
	got := jsonLines(t, &buf)
	if len(got) != 4 || got[0]["level"] != "WARN" || got[1]["level"] != "INFO" || got[1]["msg"] != "no out stats for topic x-loop" ||
		got[2]["msg"] != "two" || got[3]["msg"] != "lines" {
		t.Fatalf("lines:\n%s", buf.String())
	}
}
