// Package dbzenc renders typed rows of the shop's tables as the Kafka
// records a Debezium PostgreSQL connector writes (CONTRACT §1): the change
// envelope with or without the JsonConverter schema wrapper, the
// ExtractNewRecordState flattening (optionally with __source_sequence),
// tombstones, truncate events and JSON keys, in every DECIMAL
// (precise, string, double, and precise with decimal.format=NUMERIC) and
// TIMESTAMP representation, with unchanged TOASTed values as the
// unavailable-value placeholder. The Avro formats (FormatAvro,
// FormatAvroFlat) render the same changes as Confluent's AvroConverter
// writes them: Avro binary in the Confluent wire format, with schemas
// (avro.go) registered through EncodeOptions.Register.
//
// It is test and tool support: the simulator (tools/shopsim), the
// benchmarks, the local all-in-one binary and the tests produce their input
// with it. The services never encode. It is written independently of the
// decoder in codecs/debezium, with its own description of the tables'
// columns and Connect schemas taken from the contract and the reference
// samples, and it imports codecs/debezium only for the row types
// (debezium.Product, Order, OrderItem), the table names and debezium.Op, so
// a round trip through both tests each against the other.
package dbzenc
