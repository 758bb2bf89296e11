// Package pgshop runs the shop of CONTRACT §1 on a real PostgreSQL and
// captures its changes the way Debezium does, so that end-to-end tests get
// their ground truth from the database rather than from a simulator.
//
//   - Cluster (cluster.go) starts a private server from Debian's packages
//     (/usr/lib/postgresql/<ver>/bin): its own temporary directory and unix
//     socket directory, a free port of 127.0.0.1, wal_level=logical,
//     fsync=off. As root it runs initdb and postgres as the postgres user.
//   - Run (run.go) creates the schema (REPLICA IDENTITY FULL, long
//     descriptions TOASTed out of line), seeds part of the catalogue,
//     creates a pgoutput logical replication slot with an exported
//     snapshot, reads the snapshot rows in it, streams the slot with
//     pglogrepl while several sessions run a shop workload whose
//     transactions interleave (pauses inside transactions), and reads the
//     final tables.
//   - Render (render.go) turns the captured changes into the Kafka records
//     of the Debezium 2.x PostgreSQL connector: envelope or
//     ExtractNewRecordState-flattened, with or without the JsonConverter
//     schema, DECIMAL precise or NUMERIC, source.sequence, tombstones;
//     WithReplays adds connector-restart re-sends. Its column definitions
//     are its own; nothing here imports the code under test.
//   - RenderAvro (avro.go) renders the same changes as the AvroConverter
//     would: Avro schemas translated from the same Connect schemas by the
//     rules of Confluent's AvroData, registered through a callback, and
//     Avro binary in the Confluent wire format, written here from the
//     captured rows (not through tools/dbzenc, not read back with
//     codecs/debezium; its test reads it with hamba/avro).
//   - The expectations (expect.go) come from the database: SQL over the
//     final tables for search and analytics, and for inventory a plain
//     commit-order replay of the captured changes, checked against the
//     tables where they can tell.
package pgshop
