// Package deadletter is the contract of a dead letter's Kafka headers
// (contract §4). A record that fails for good is sent to the service's
// dead-letter topic with its original key and value and the headers
// error, source_topic, source_partition, source_offset and service, plus
// source_timestamp (not in the contract: the source record's time, which
// lets the S3 archive key a dead letter by its source record).
//
// The writer (the CDC input edge) builds the headers with For and
// Headers.Goka; the readers (the S3 archive, tests, operators' tools) parse
// them with Parse. Header values are UTF-8 text; numbers are decimal.
package deadletter

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/lovoo/goka"
)

// The header names.
const (
	HeaderError           = "error"            // why the record failed
	HeaderSourceTopic     = "source_topic"     // the topic of the original record
	HeaderSourcePartition = "source_partition" // its partition, decimal
	HeaderSourceOffset    = "source_offset"    // its offset, decimal
	HeaderService         = "service"          // the service that dead-lettered it
	// HeaderSourceTimestamp is the original record's Kafka timestamp in
	// milliseconds since the Unix epoch, decimal. Not in the contract, and
	// optional: absent when the record had no timestamp.
	HeaderSourceTimestamp = "source_timestamp"
)

// required are the headers of the contract, in its order.
var required = []string{HeaderError, HeaderSourceTopic, HeaderSourcePartition, HeaderSourceOffset, HeaderService}

// Headers is what a dead letter's headers say.
type Headers struct {
	Error           string // HeaderError
	SourceTopic     string // HeaderSourceTopic
	SourcePartition int32  // HeaderSourcePartition
	SourceOffset    int64  // HeaderSourceOffset
	Service         string // HeaderService
	// SourceTimestamp is HeaderSourceTimestamp, with millisecond
	// precision; the zero Time when unknown.
	SourceTimestamp time.Time
}

// Source is the record being dead-lettered; goka.Context satisfies it.
type Source interface {
	Topic() goka.Stream
	Partition() int32
	Offset() int64
	Timestamp() time.Time
}

// For returns the headers of the dead letter of src, which service could
// not process because of reason. In a Goka callback:
//
//	ctx.Emit(dlqTopic, ctx.Key(), value,
//		goka.WithCtxEmitHeaders(deadletter.For(ctx, service, reason).Goka()))
func For(src Source, service string, reason error) Headers {
	h := Headers{
		SourceTopic:     string(src.Topic()),
		SourcePartition: src.Partition(),
		SourceOffset:    src.Offset(),
		Service:         service,
		SourceTimestamp: src.Timestamp(),
	}
	if reason != nil {
		h.Error = reason.Error()
	}
	return h
}

// Goka returns the headers for goka.WithCtxEmitHeaders (or a goka.Emitter).
// HeaderSourceTimestamp is left out when SourceTimestamp is zero.
func (h Headers) Goka() goka.Headers {
	g := goka.Headers{
		HeaderError:           []byte(h.Error),
		HeaderSourceTopic:     []byte(h.SourceTopic),
		HeaderSourcePartition: []byte(strconv.FormatInt(int64(h.SourcePartition), 10)),
		HeaderSourceOffset:    []byte(strconv.FormatInt(h.SourceOffset, 10)),
		HeaderService:         []byte(h.Service),
	}
	if !h.SourceTimestamp.IsZero() {
		g[HeaderSourceTimestamp] = []byte(strconv.FormatInt(h.SourceTimestamp.UnixMilli(), 10))
	}
	return g
}

// ErrMissing is wrapped by the BadHeader of a required header that is
// absent or empty.
var ErrMissing = errors.New("missing")

// BadHeader is one header that Parse could not read.
type BadHeader struct {
	Name  string // the header's name
	Value string // its value; "" when missing
	Err   error  // ErrMissing, or why the value is malformed
}

// Error names the header, and its value when it has one.
func (e *BadHeader) Error() string {
	if errors.Is(e.Err, ErrMissing) {
		return fmt.Sprintf("header %s: %v", e.Name, e.Err)
	}
	return fmt.Sprintf("header %s %q: %v", e.Name, e.Value, e.Err)
}

// Unwrap returns Err.
func (e *BadHeader) Unwrap() error { return e.Err }

// ParseError lists the headers of a dead letter that Parse could not read.
type ParseError struct {
	Problems []*BadHeader // in the order of the contract, then source_timestamp
}

// Error lists the headers and what is wrong with each.
func (e *ParseError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, h := range e.Problems {
		parts[i] = h.Error()
	}
	return "dead-letter headers: " + strings.Join(parts, "; ")
}

// Unwrap returns the Problems, so that errors.Is(err, ErrMissing) and
// errors.As(err, **BadHeader) see them.
func (e *ParseError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, h := range e.Problems {
		errs[i] = h
	}
	return errs
}

// Bad reports whether the header name is among those that could not be
// read. It may be called on a nil *ParseError (Parse found nothing wrong),
// which reports false.
func (e *ParseError) Bad(name string) bool {
	if e == nil {
		return false
	}
	for _, h := range e.Problems {
		if h.Name == name {
			return true
		}
	}
	return false
}

// Parse reads a dead letter's headers (from a goka.Context's Headers, or
// goka.HeadersFromSarama for a sarama message). It returns every header it
// could read, even when others are missing or malformed; those are left
// zero and listed by the error, a *ParseError:
//
//	h, err := deadletter.Parse(headers)
//	var bad *deadletter.ParseError
//	errors.As(err, &bad) // bad stays nil when err is nil
//	if !bad.Bad(deadletter.HeaderSourceOffset) { … h.SourceOffset … }
//
// The headers of the contract are required and must not be empty;
// source_partition must be a decimal int32 and source_offset a decimal
// int64. HeaderSourceTimestamp is optional: when absent, or not positive
// (as a writer without the record's time may send), SourceTimestamp is
// zero; it is an error only when it is not a decimal int64.
func Parse(g goka.Headers) (Headers, error) {
	var (
		h    Headers
		errs []*BadHeader
	)
	get := func(name string) (string, bool) {
		v := string(g[name])
		if v == "" {
			errs = append(errs, &BadHeader{Name: name, Err: ErrMissing})
			return "", false
		}
		return v, true
	}
	h.Error, _ = get(HeaderError)
	h.SourceTopic, _ = get(HeaderSourceTopic)
	if v, ok := get(HeaderSourcePartition); ok {
		if p, err := strconv.ParseInt(v, 10, 32); err != nil {
			errs = append(errs, &BadHeader{Name: HeaderSourcePartition, Value: v, Err: numErr(err)})
		} else {
			h.SourcePartition = int32(p)
		}
	}
	if v, ok := get(HeaderSourceOffset); ok {
		if o, err := strconv.ParseInt(v, 10, 64); err != nil {
			errs = append(errs, &BadHeader{Name: HeaderSourceOffset, Value: v, Err: numErr(err)})
		} else {
			h.SourceOffset = o
		}
	}
	h.Service, _ = get(HeaderService)
	if v := string(g[HeaderSourceTimestamp]); v != "" {
		if ms, err := strconv.ParseInt(v, 10, 64); err != nil {
			errs = append(errs, &BadHeader{Name: HeaderSourceTimestamp, Value: v, Err: numErr(err)})
		} else if ms > 0 {
			h.SourceTimestamp = time.UnixMilli(ms).UTC()
		}
	}
	if len(errs) > 0 {
		return h, &ParseError{Problems: errs}
	}
	return h, nil
}

// numErr turns a strconv error into its reason alone (the header error
// already names the value).
func numErr(err error) error {
	var ne *strconv.NumError
	if errors.As(err, &ne) {
		return ne.Err
	}
	return err
}
