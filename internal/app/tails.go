package app

import (
	"github.com/cdcflow/cdcflow/views/deadletters"
	"github.com/cdcflow/cdcflow/views/tail"
)

// tail keeps the newest records of topic in memory for the dashboard and
// the JSON endpoints that show them; it reads without a consumer group.
func (w *wiring) tail(topic string) *tail.Tail {
	t := tail.New(tail.Options{Brokers: w.d.Kafka.Brokers, Config: w.d.Kafka.Sarama, Topic: topic, Log: w.d.Log})
	w.add(Part{Name: w.name("tail " + topic), Stage: StageView, Run: t.Run})
	return t
}

// deadLetters serves the service's newest dead letters with their reasons
// (GET /v1/dead-letters/<service>), read from DLQ_TOPIC.
func (w *wiring) deadLetters() {
	deadletters.Routes(w.srv, w.cfg.Service.Name, w.tail(w.cfg.DLQTopic))
}
