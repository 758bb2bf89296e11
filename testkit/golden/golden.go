// Package golden keeps encoded table values in files, so that a test can
// prove a binary still reads what an earlier release wrote. Group tables
// live in Kafka for as long as the service runs: every binary must decode
// the values every earlier binary wrote.
//
// A golden file holds the bytes one release's codec wrote for one value.
// The files are written once, by the release that introduces the layout
// (go test -run Golden -update-golden), and never rewritten after: when a
// layout changes, its old files stay, and the test keeps checking that they
// decode to the value they held.
package golden

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/lovoo/goka"
)

var update = flag.Bool("update-golden", false, "write missing golden files from the current codecs (existing files are never rewritten)")

// Check decodes the golden file at path with codec and fails t unless the
// result equals want (compared as printed with %+v, which treats nil and
// empty slices alike, as the encodings do). With current, the file must
// also be exactly what codec writes for want today: set it for the layouts
// a binary still writes, clear it for older ones it only reads.
//
// With -update-golden, a missing file is written from want and codec.
func Check(t *testing.T, path string, codec goka.Codec, want any, current bool) {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && *update {
		data, err = codec.Encode(want)
		if err != nil {
			t.Fatalf("encode %s: %v", path, err)
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s (%d bytes)", path, len(data))
	}
	if err != nil {
		t.Fatalf("golden file: %v (write missing files with -update-golden)", err)
	}
	got, err := codec.Decode(data)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	if g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want); g != w {
		t.Errorf("%s decodes to\n%s\nwant\n%s", path, g, w)
	}
	if !current {
		return
	}
	enc, err := codec.Encode(want)
	if err != nil {
		t.Fatalf("encode %T: %v", want, err)
	}
	if !bytes.Equal(enc, data) {
		t.Errorf("%s: the codec now writes\n%x\nfor the value the file holds as\n%x\n(a layout change needs a new version, and the old files kept)", path, enc, data)
	}
}
