package kafka

import (
	"testing"

	"github.com/cdcflow/cdcflow/internal/config"
)

// TestViewAndProcessorStorageApart opens, as a service binary does, the
// local storage of one table partition for the processor and for a view of
// the same table at once: with LevelDB under one STATE_DIR both must open,
// and apart. (Sharing one directory made every service binary fail at
// start with "error opening leveldb: resource temporarily unavailable".)
func TestViewAndProcessorStorageApart(t *testing.T) {
	cfg, err := config.Load(config.Inventory, func(k string) (string, bool) {
		if k == "STATE_DIR" {
			return t.TempDir(), true
		}
		return "", false
	})
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	const topic = "inventory-service-group-table"
	proc, err := s.Storage(topic, 0)
	if err != nil {
		t.Fatalf("processor storage: %v", err)
	}
	defer proc.Close()
	view, err := s.ViewStorage(topic, 0)
	if err != nil {
		t.Fatalf("view storage of the same table partition: %v", err)
	}
	defer view.Close()
	if err := proc.Set("k", []byte("processor")); err != nil {
		t.Fatal(err)
	}
	if v, err := view.Get("k"); err != nil || v != nil {
		t.Fatalf("the view's storage sees the processor's write (%q, %v): they share a directory", v, err)
	}
}
