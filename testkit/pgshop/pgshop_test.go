package pgshop

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestUnscaledBytes(t *testing.T) {
	// Java's BigInteger.toByteArray, as the samples carry it.
	for _, tc := range []struct {
		n    int64
		want string
	}{
		{0, "AA=="}, {189057, "AuKB"}, {567171, "CKeD"}, {127, "fw=="}, {128, "AIA="}, {-1, "/w=="}, {-128, "gA=="}, {-129, "/38="},
		{255, "AP8="}, {-256, "/wA="},
	} {
		if got := base64.StdEncoding.EncodeToString(unscaledBytes(tc.n)); got != tc.want {
			t.Errorf("unscaledBytes(%d) = %s, want %s", tc.n, got, tc.want)
		}
	}
}

func TestDecimalText(t *testing.T) {
	for _, tc := range []struct {
		s     string
		cents int64
		back  string
	}{{"24.90", 2490, "24.90"}, {"0.00", 0, "0.00"}, {"-1.05", -105, "-1.05"}, {"7", 700, "7.00"}, {"1999.9", 199990, "1999.90"}, {"0.01", 1, "0.01"}} {
		n, err := parseDecimal(tc.s, 2)
		if err != nil || n != tc.cents {
			t.Errorf("parseDecimal(%q) = %d, %v", tc.s, n, err)
		}
		if got := FormatDecimal(n, 2); got != tc.back {
			t.Errorf("FormatDecimal(%d) = %q, want %q", n, got, tc.back)
		}
	}
	if _, err := parseDecimal("1.234", 2); err == nil {
		t.Error("1.234 at scale 2 accepted")
	}
}

// TestRunSmall runs a small shop on a real PostgreSQL and checks the
// capture's own consistency (Run verifies the replay against the tables)
// and the rendered records' shapes.
func TestRunSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	cl := StartT(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n := 600
	if s := os.Getenv("PGSHOP_CHANGES"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	res, err := Run(ctx, cl, Config{Seed: 7, Changes: n, SnapshotProducts: 20, SnapshotOrders: 5, StreamProducts: 20})
	if err != nil {
		t.Fatalf("%v\nserver log:\n%s", err, cl.Log())
	}
	st := res.Capture.Stats()
	t.Logf("stats %+v workload %+v timings %v", st, res.Workload, res.Timings)
	if st.Changes < n || st.Snapshot == 0 || st.UnchangedToast == 0 || st.LateCommitted == 0 {
		t.Errorf("capture too thin: %+v", st)
	}
	inv := res.Capture.ExpectInventory()
	if _, err := CheckInventory(inv, res.Final); err != nil {
		t.Error(err)
	}

	samples := sampleShapes(t)
	for _, opts := range []RenderOptions{
		{Format: FormatEnvelope},
		{Format: FormatEnvelopeNoSchema, Decimal: DecimalNumeric},
		{Format: FormatFlat, FlatLSN: true, FlatSequence: true},
		{Format: FormatFlatNoSchema, Decimal: DecimalNumeric, FlatSequence: true},
	} {
		recs := Render(res.Capture, opts)
		placeholders := 0
		for _, r := range recs {
			var key map[string]any
			if err := json.Unmarshal(r.Key, &key); err != nil {
				t.Fatalf("%+v: key %s: %v", opts, r.Key, err)
			}
			if r.Value == nil {
				continue
			}
			dec := json.NewDecoder(bytes.NewReader(r.Value))
			dec.UseNumber()
			var v map[string]any
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("%+v: value %s: %v", opts, r.Value, err)
			}
			if opts.Format == FormatEnvelope || opts.Format == FormatFlat {
				if v["schema"] == nil || v["payload"] == nil {
					t.Fatalf("no schema wrapper: %s", r.Value)
				}
				v = v["payload"].(map[string]any)
			}
			if opts.Format == FormatEnvelope || opts.Format == FormatEnvelopeNoSchema {
				src := v["source"].(map[string]any)
				var seq []*string
				if err := json.Unmarshal([]byte(src["sequence"].(string)), &seq); err != nil || len(seq) != 2 || seq[1] == nil {
					t.Fatalf("sequence %v: %v", src["sequence"], err)
				}
				if *seq[1] != src["lsn"].(json.Number).String() {
					t.Fatalf("sequence %v, lsn %v", src["sequence"], src["lsn"])
				}
			}
			if strings.Contains(string(r.Value), Placeholder) {
				placeholders++
			}
			if want, ok := samples[shapeKey(opts.Format, r.Topic)]; ok && r.Change.Op != OpDelete {
				if got := shapeOf(v); !subset(want, got) {
					t.Fatalf("%+v %s: members %v lack some of the sample's %v", opts, r.Topic, got, want)
				}
			}
		}
		if placeholders != st.UnchangedToast {
			t.Errorf("%+v: %d records with the placeholder, want %d", opts, placeholders, st.UnchangedToast)
		}
	}
}

func TestFindBinaries(t *testing.T) {
	saved := BinRoot
	defer func() { BinRoot = saved }()
	BinRoot = t.TempDir()
	if _, err := FindBinaries(); err == nil {
		t.Fatal("found PostgreSQL in an empty directory")
	}
	for _, ver := range []string{"13", "15", "9", "notaversion"} {
		dir := BinRoot + "/" + ver + "/bin"
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"initdb", "pg_ctl", "postgres"} {
			if err := os.WriteFile(dir+"/"+p, []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	// A newer version without initdb does not count.
	if err := os.MkdirAll(BinRoot+"/17/bin", 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(BinRoot+"/17/bin/postgres", []byte("#!/bin/sh\n"), 0o755)
	b, err := FindBinaries()
	if err != nil || b.Version != 15 || b.Dir != BinRoot+"/15/bin" {
		t.Fatalf("FindBinaries() = %+v, %v; want version 15", b, err)
	}
}

// shapeKey names a sample's shape: envelope or flat, and topic.
func shapeKey(f Format, topic string) string {
	if f.flat() {
		return "flat " + topic
	}
	return "envelope " + topic
}

// shapeOf lists a payload's member names, and those of its after and
// source blocks ("after.x", "source.y").
func shapeOf(p map[string]any) []string {
	var out []string
	for k, v := range p {
		out = append(out, k)
		if m, ok := v.(map[string]any); ok && (k == "after" || k == "source") {
			for kk := range m {
				out = append(out, k+"."+kk)
			}
		}
	}
	return out
}

func subset(a, b []string) bool {
	set := map[string]bool{}
	for _, s := range b {
		set[s] = true
	}
	for _, s := range a {
		if !set[s] {
			return false
		}
	}
	return true
}

// sampleShapes reads the member names of the contract's samples
// (../shared/samples beside the repository), by shape and topic, from
// their non-delete records; none when the samples are not there.
func sampleShapes(t *testing.T) map[string][]string {
	out := map[string][]string{}
	for _, f := range []struct{ file, kind string }{{"envelope.jsonl", "envelope"}, {"flat.jsonl", "flat"}} {
		b, err := os.ReadFile("../../../shared/samples/" + f.file)
		if err != nil {
			t.Logf("no samples to compare shapes with: %v", err)
			return nil
		}
		for _, line := range bytes.Split(b, []byte("\n")) {
			var rec struct {
				Topic string
				Value map[string]any
			}
			if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &rec) != nil || rec.Value == nil {
				continue
			}
			p, _ := rec.Value["payload"].(map[string]any)
			if p == nil || p["op"] == "d" || p["__op"] == "d" {
				continue
			}
			out[f.kind+" "+rec.Topic] = shapeOf(p)
		}
	}
	return out
}
