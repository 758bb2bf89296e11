package cdc

import (
	"errors"
	"fmt"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/codecs/debezium"
	"github.com/cdcflow/cdcflow/telemetry"
)

// TestErrorType checks the error_type of consumer_messages_failed_total and
// consumer_errors_total for the decoder's real errors and the processors'.
func TestErrorType(t *testing.T) {
	dec := debezium.NewDecoder(debezium.DecoderOptions{DefaultScale: 2})
	decodeErr := func(topic, value string) error {
		_, err := dec.Decode(topic, []byte(`{"id":1}`), []byte(value))
		if err == nil {
			t.Fatalf("%s %q decoded", topic, value)
		}
		return fmt.Errorf("decode: %w", err) // as handle wraps it
	}
	products := "dbserver1.public.products"
	for _, tc := range []struct {
		err  error
		want string
	}{
		{decodeErr(products, "not json"), telemetry.ErrorDecode},
		{decodeErr(products, `{"payload":`), telemetry.ErrorDecode},
		{decodeErr(products, `[1,2]`), telemetry.ErrorDecode},
		{decodeErr(products, `{"payload":{"op":"c","after":{"id":"x"}}}`), telemetry.ErrorSchema},
		{decodeErr(products, `{"payload":{"op":"c"}}`), telemetry.ErrorSchema},
		{decodeErr("some.other.topic", `{"payload":{"op":"c","after":{"id":1}}}`), telemetry.ErrorWrongTable},
		{fmt.Errorf("x: %w", &WrongTableError{Topic: "products", Table: "orders"}), telemetry.ErrorWrongTable},
		{errors.New("order 1: op c without a row image"), telemetry.ErrorInvalid},
	} {
		if got := errorType(tc.err); got != tc.want {
			t.Errorf("errorType(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
	if got := (&WrongTableError{Topic: "products", Table: "orders"}).Error(); got != `products topic carries a "orders" row` {
		t.Errorf("WrongTableError text %q", got)
	}
}

// TestMetricsShareErrors checks that the input's consumer_errors_total is
// the one counter of the service on its registry, whoever asks first, and
// that NewMetrics without a registry counts unregistered.
func TestMetricsShareErrors(t *testing.T) {
	reg := prometheus.NewRegistry()
	sinkSide := telemetry.Errors(reg, "svc")
	m := NewMetrics(reg, "svc")
	m.Errors.WithLabelValues(telemetry.ErrorDecode).Inc()
	sinkSide.WithLabelValues(telemetry.ErrorS3).Inc()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range mfs {
		if f.GetName() == "consumer_errors_total" {
			n = len(f.GetMetric())
		}
	}
	if n != 2 {
		t.Fatalf("consumer_errors_total has %d series, want 2 (decode and s3 of one counter)", n)
	}
	NewMetrics(nil, "svc").Errors.WithLabelValues(telemetry.ErrorDecode).Inc() // no panic, nothing registered
}
