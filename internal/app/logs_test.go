package app

import (
	"bytes"
	"encoding/json"
	stdlog "log"
	"log/slog"
	"strings"
	"testing"

	"github.com/IBM/sarama"
)

// RouteLibraryLogs sends Sarama's global logger, the standard library's
// log package (Goka's stats write there) and slog.Default through the
// service's JSON handler, each line at its level. (The globals are
// restored afterwards; no other test of this package runs Kafka clients.)
func TestRouteLibraryLogs(t *testing.T) {
	prevSarama, prevOut, prevFlags, prevDefault := sarama.Logger, stdlog.Writer(), stdlog.Flags(), slog.Default()
	t.Cleanup(func() {
		slog.SetDefault(prevDefault)
		sarama.Logger = prevSarama
		stdlog.SetOutput(prevOut)
		stdlog.SetFlags(prevFlags)
	})
	var buf bytes.Buffer
	RouteLibraryLogs(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("service", "s"))
	sarama.Logger.Printf("Failed to connect to broker %s: %s\n", "127.0.0.1:1", "connection refused")
	sarama.Logger.Println("Connected to broker at", "127.0.0.1:9092")
	stdlog.Printf("no out stats for topic %s", "x-loop")
	stdlog.Print("Error retrieving stats: boom")
	slog.Default().Warn("from a component without a logger")
	want := []struct{ level, msg string }{
		{"WARN", "Failed to connect to broker 127.0.0.1:1: connection refused"},
		{"DEBUG", "Connected to broker at 127.0.0.1:9092"},
		{"INFO", "no out stats for topic x-loop"},
		{"ERROR", "Error retrieving stats: boom"},
		{"WARN", "from a component without a logger"},
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), buf.String())
	}
	for i, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %d is not JSON: %q", i, l)
		}
		if m["level"] != want[i].level || m["msg"] != want[i].msg || m["service"] != "s" {
			t.Errorf("line %d: %v, want %+v", i, m, want[i])
		}
	}
}
