// Package dlq archives dead letters to S3 (contract §4): every record of a
// service's dead-letter topic becomes the object
//
//	s3://<bucket>/dlq/<service>/<source_topic>/<YYYYmmdd_HHMMSS>_p<source_partition>_o<source_offset>.json
//
// holding {"topic","message","error","timestamp","service",…}.
//
// The Archiver is a Goka group of its own with one input, the dead-letter
// topic, so its progress is committed in Kafka and its partitions are
// balanced across instances like any processor. Its callback defers the
// commit of each record (goka.Context.DeferCommit) and hands the record to
// the writer goroutines of Run, which put the object and only then commit.
// Puts go through an s3put.Putter (package sinks/s3put): a put that fails
// is retried with exponential backoff and full jitter, behind a circuit
// breaker, for as long as it fails: a dead letter is never dropped.
//
// The dead letter's headers are read with package codecs/deadletter. The
// object key depends only on the record (its source timestamp, else its
// Kafka timestamp, and the source coordinates from its headers), so a record that is processed again
// after a restart overwrites its own object: one object per dead letter.
//
// Stopping. When the processor stops or a partition is revoked (the
// callback's context is done), or when Run's context is done, the records
// already handed over are still written for up to DrainTimeout. Those still
// not written then are released uncommitted, with an error wrapping
// ErrStopped, and are archived on the next start. Goka treats a deferred
// commit released with an error as a processing error, so the processor's
// Run then returns an error that matches ErrStopped (errors.Is); this only
// happens while S3 refuses writes for the whole drain window.
package dlq

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/lovoo/goka"

	"github.com/cdcflow/cdcflow/codecs/deadletter"
)

// Key layout of the contract.
const (
	KeyPrefix   = "dlq"
	StampLayout = "20060102_150405"
	// TimestampLayout is RFC 3339 in UTC with milliseconds, the precision
	// of Kafka timestamps.
	TimestampLayout = "2006-01-02T15:04:05.000Z07:00"
)

// EncodingBase64 marks a message or key that is not valid UTF-8 and is
// therefore stored base64-encoded (standard encoding, padded).
const EncodingBase64 = "base64"

// Document is the JSON body of an archived dead letter. The first five
// fields are the contract's; the others help to find the record again.
type Document struct {
	Topic           string `json:"topic"`   // the source topic
	Message         string `json:"message"` // the original value; base64 when MessageEncoding says so
	MessageEncoding string `json:"message_encoding,omitempty"`
	Error           string `json:"error"`
	Timestamp       string `json:"timestamp"` // when the record was dead-lettered, RFC 3339 UTC
	Service         string `json:"service"`
	Key             string `json:"key"` // the original key; base64 when KeyEncoding says so
	KeyEncoding     string `json:"key_encoding,omitempty"`
	// SourcePartition and SourceOffset locate the original record; absent
	// when the dead letter has no (valid) such headers.
	SourcePartition *int32 `json:"source_partition,omitempty"`
	SourceOffset    *int64 `json:"source_offset,omitempty"`
	// DLQTopic, DLQPartition and DLQOffset locate the dead letter itself.
	DLQTopic     string `json:"dlq_topic"`
	DLQPartition int32  `json:"dlq_partition"`
	DLQOffset    int64  `json:"dlq_offset"`
}

// Record is one dead letter as read from the dead-letter topic.
type Record struct {
	Topic     string // the dead-letter topic
	Partition int32
	Offset    int64
	Timestamp time.Time // the record's Kafka timestamp
	Key       []byte
	Value     []byte
	Headers   goka.Headers // the dead letter's headers (package codecs/deadletter)
}

// object is what is written for a record.
type object struct {
	key  string
	body []byte
	doc  Document
}

// buildObject derives the object key and body of a dead letter. service is
// used when the record has no service header. The key depends only on the
// record, so building it again after a restart gives the same key.
func buildObject(r Record, service string) (object, error) {
	// A dead letter lacking headers, or with malformed ones, is archived
	// all the same, with what it has: nothing is dropped.
	h, err := deadletter.Parse(r.Headers)
	var bad *deadletter.ParseError
	if err != nil && !errors.As(err, &bad) {
		return object{}, fmt.Errorf("dead letter %s/%d/%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	// The stamp is the source record's time when the input edge recorded
	// it: a source record dead-lettered again after a crash then maps to
	// the same object, so each dead letter is one object.
	ts := r.Timestamp.UTC()
	if !h.SourceTimestamp.IsZero() {
		ts = h.SourceTimestamp.UTC()
	}
	doc := Document{
		Topic:        h.SourceTopic,
		Error:        h.Error,
		Timestamp:    ts.Format(TimestampLayout),
		Service:      h.Service,
		DLQTopic:     r.Topic,
		DLQPartition: r.Partition,
		DLQOffset:    r.Offset,
	}
	if doc.Service == "" {
		doc.Service = service
	}
	doc.Message, doc.MessageEncoding = text(r.Value)
	doc.Key, doc.KeyEncoding = text(r.Key)
	if !bad.Bad(deadletter.HeaderSourcePartition) {
		doc.SourcePartition = &h.SourcePartition
	}
	if !bad.Bad(deadletter.HeaderSourceOffset) {
		doc.SourceOffset = &h.SourceOffset
	}

	// The suffix makes the key unique among dead letters: the source
	// coordinates when known (a source record is dead-lettered once per
	// processing), else the dead letter's own coordinates, marked "d" so
	// the two kinds never collide.
	var suffix string
	if doc.SourcePartition != nil && doc.SourceOffset != nil {
		suffix = fmt.Sprintf("p%d_o%d", *doc.SourcePartition, *doc.SourceOffset)
	} else {
		suffix = fmt.Sprintf("d%d_o%d", r.Partition, r.Offset)
	}
	sourceTopic := doc.Topic
	if sourceTopic == "" {
		sourceTopic = "unknown"
	}
	key := fmt.Sprintf("%s/%s/%s/%s_%s.json", KeyPrefix, segment(doc.Service), segment(sourceTopic),
		ts.Format(StampLayout), suffix)

	body, err := json.Marshal(doc)
	if err != nil {
		return object{}, fmt.Errorf("encode dead letter %s/%d/%d: %w", r.Topic, r.Partition, r.Offset, err)
	}
	return object{key: key, body: body, doc: doc}, nil
}

// text returns b as a string when it is valid UTF-8, else base64 and the
// encoding's name.
func text(b []byte) (string, string) {
	if utf8.Valid(b) {
		return string(b), ""
	}
	return base64.StdEncoding.EncodeToString(b), EncodingBase64
}

// segment makes s safe as one segment of an S3 key: characters outside
// Kafka's topic alphabet [A-Za-z0-9._-] become '_', as do the segments "."
// and ".." and an empty one.
func segment(s string) string {
	if s == "" || s == "." || s == ".." {
		return "_"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, s)
}

// ErrStopped is wrapped by the error with which a dead letter that could not
// be archived before the archiver or its partition stopped is released
// uncommitted; it is archived on the next start.
var ErrStopped = errors.New("dead-letter archiver stopped before the record was archived")

// drainContext returns a context that ends drain after parent ends, and a
// function that releases it.
func drainContext(parent context.Context, drain time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(parent, func() { time.AfterFunc(drain, cancel) })
	return ctx, func() {
		stop()
		cancel()
	}
}
