package kafka

import (
	"fmt"
	"testing"

	"github.com/lovoo/goka/storage"
)

func openBuffered(t *testing.T, dir string, maxDirty int) *buffered {
	t.Helper()
	st, err := BufferedBuilder(dir, maxDirty)("table", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Open(); err != nil {
		t.Fatal(err)
	}
	return st.(*buffered)
}

func get(t *testing.T, st storage.Storage, key string) string {
	t.Helper()
	v, err := st.Get(key)
	if err != nil {
		t.Fatal(err)
	}
	if v == nil {
		return "<nil>"
	}
	return string(v)
}

func offset(t *testing.T, st storage.Storage) int64 {
	t.Helper()
	o, err := st.GetOffset(-1)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestBufferedStorageReadsItsWritesAndSurvivesClose(t *testing.T) {
	dir := t.TempDir()
	st := openBuffered(t, dir, 1000)
	for i := range 10 {
		if err := st.Set(fmt.Sprintf("k%d", i), []byte(fmt.Sprintf("v%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Delete("k3"); err != nil {
		t.Fatal(err)
	}
	if err := st.Set("empty", []byte{}); err != nil {
		t.Fatal(err)
	}
	_ = st.SetOffset(41)
	if got := get(t, st, "k5"); got != "v5" {
		t.Fatalf("buffered get = %s", got)
	}
	if got := get(t, st, "k3"); got != "<nil>" {
		t.Fatalf("deleted key = %s", got)
	}
	if ok, _ := st.Has("empty"); !ok {
		t.Fatal("an empty value must exist")
	}
	if o := offset(t, st); o != 41 {
		t.Fatalf("offset = %d", o)
	}
	// Iteration sees the buffered writes and hides the offset.
	it, err := st.Iterator()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for it.Next() {
		if string(it.Key()) == offsetKey {
			t.Fatal("iterator shows the offset key")
		}
		n++
	}
	it.Release()
	if n != 10 { // k0..k9 without k3, plus empty
		t.Fatalf("iterated %d keys, want 10", n)
	}
	if err := st.Set("k9", []byte("v9b")); err != nil {
		t.Fatal(err)
	}
	_ = st.SetOffset(42)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = openBuffered(t, dir, 1000)
	defer st.Close()
	if got := get(t, st, "k9"); got != "v9b" {
		t.Fatalf("after reopen k9 = %s", got)
	}
	if got := get(t, st, "k3"); got != "<nil>" {
		t.Fatalf("after reopen deleted k3 = %s", got)
	}
	if o := offset(t, st); o != 42 {
		t.Fatalf("after reopen offset = %d", o)
	}
}

// A crash loses the buffer but leaves the database at the last batch: its
// values together with the offset written with them.
func TestBufferedStorageCrashKeepsLastBatch(t *testing.T) {
	dir := t.TempDir()
	st := openBuffered(t, dir, 4)
	for i := range 4 { // the fourth key fills the buffer: one batch
		_ = st.SetOffset(int64(i + 1))
		if err := st.Set(fmt.Sprintf("k%d", i), []byte("a")); err != nil {
			t.Fatal(err)
		}
	}
	_ = st.SetOffset(5)
	if err := st.Set("k0", []byte("b")); err != nil { // buffered only
		t.Fatal(err)
	}
	if err := st.db.Close(); err != nil { // crash: no flush
		t.Fatal(err)
	}
	st = openBuffered(t, dir, 4)
	defer st.Close()
	if o := offset(t, st); o != 4 {
		t.Fatalf("offset after crash = %d, want 4 (the last batch's)", o)
	}
	if got := get(t, st, "k0"); got != "a" {
		t.Fatalf("k0 after crash = %s, want the batched a", got)
	}
	if got := get(t, st, "k3"); got != "a" {
		t.Fatalf("k3 after crash = %s", got)
	}
}

func TestBufferedStorageDefaultOffset(t *testing.T) {
	st := openBuffered(t, t.TempDir(), 0)
	defer st.Close()
	if o := offset(t, st); o != -1 {
		t.Fatalf("fresh offset = %d, want the default", o)
	}
	if st.maxDirty != DefaultMaxDirty {
		t.Fatalf("maxDirty = %d", st.maxDirty)
	}
}
