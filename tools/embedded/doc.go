// Package embedded runs in-process stand-ins for the infrastructure the CDC
// consumers talk to: a Kafka-protocol broker (franz-go's kfake) and an S3
// endpoint (gofakes3). Both listen on 127.0.0.1 and speak the real wire
// protocols, so clients (Sarama/Goka, franz-go, aws-sdk-go-v2) are used
// unchanged. The local all-in-one binary and the tests use them.
package embedded
