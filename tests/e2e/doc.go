// Package e2e holds the end-to-end tests: the real services against the
// real wire protocols (kfake for Kafka, dynalite for DynamoDB, gofakes3 for
// S3), fed by the shop simulator and compared with its independent oracle.
package e2e
