package debezium

import (
	"encoding/json"
	"testing"
)

// benchRecords returns the non-tombstone records of a sample file.
func benchRecords(b *testing.B, name string) []sampleRecord {
	b.Helper()
	var out []sampleRecord
	for _, r := range loadSamples(b, name) {
		if string(r.Value) != "null" {
			out = append(out, r)
		}
	}
	return out
}

// benchDecode decodes the records of a sample file with decode, one
// goroutine.
func benchDecode(b *testing.B, name string, decode altDecodeFunc) {
	recs := benchRecords(b, name)
	d := NewDecoder(DecoderOptions{DefaultScale: 2})
	var size int64
	for _, r := range recs {
		size += int64(len(r.Key) + len(r.Value))
	}
	b.SetBytes(size / int64(len(recs)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r := &recs[i%len(recs)]
		if _, err := decode(d, r.Topic, r.Key, r.Value); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

// BenchmarkDecodeEnvelope decodes the sample envelopes (schema wrapper,
// ~2.5 KB each) on one goroutine.
func BenchmarkDecodeEnvelope(b *testing.B) { benchDecode(b, "envelope.jsonl", (*Decoder).Decode) }

// BenchmarkDecodeFlat decodes the sample ExtractNewRecordState messages.
func BenchmarkDecodeFlat(b *testing.B) { benchDecode(b, "flat.jsonl", (*Decoder).Decode) }

// BenchmarkDecodeStdlibMap is the baseline: encoding/json into maps.
func BenchmarkDecodeStdlibMap(b *testing.B) {
	recs := benchRecords(b, "envelope.jsonl")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		r := &recs[i%len(recs)]
		var k, v map[string]any
		if err := json.Unmarshal(r.Key, &k); err != nil {
			b.Fatal(err)
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
