// Package deadletters answers GET /v1/dead-letters/{service}: the newest
// records of a service's dead-letter topic with their reasons, readable by
// a person (the dashboard's pipeline panel shows them).
package deadletters

import (
	"net/http"
	"strings"
	"time"

	"github.com/lovoo/goka"

	"github.com/cdcflow/cdcflow/codecs/deadletter"
	"github.com/cdcflow/cdcflow/views/httpapi"
	"github.com/cdcflow/cdcflow/views/tail"
)

// MaxShown bounds the bytes of a dead letter's key and value shown.
const MaxShown = 512

// Letter is one dead letter as the API shows it.
type Letter struct {
	Time            string `json:"time"` // when it was dead-lettered, RFC 3339
	Error           string `json:"error"`
	SourceTopic     string `json:"source_topic"`
	SourcePartition int32  `json:"source_partition"`
	SourceOffset    int64  `json:"source_offset"`
	Key             string `json:"key"`
	Value           string `json:"value"` // the first MaxShown bytes, as text
	Truncated       bool   `json:"truncated"`
	// HeaderProblem is set when the headers do not follow the contract.
	HeaderProblem string `json:"header_problem,omitempty"`
}

// Response answers GET /v1/dead-letters/{service}.
type Response struct {
	Service     string   `json:"service"`
	Topic       string   `json:"topic"`
	Reading     bool     `json:"reading"` // false while the topic cannot be read
	DeadLetters []Letter `json:"dead_letters"`
}

// Routes registers GET /v1/dead-letters/<service> on srv, answered from t,
// a tail of the service's dead-letter topic.
func Routes(srv *httpapi.Server, service string, t *tail.Tail) {
	srv.Handle("GET /v1/dead-letters/"+service, func(w http.ResponseWriter, _ *http.Request) {
		resp := Response{Service: service, Topic: t.Topic(), Reading: t.Running(), DeadLetters: []Letter{}}
		for _, r := range t.Records() {
			resp.DeadLetters = append(resp.DeadLetters, letter(r))
		}
		httpapi.WriteJSON(w, http.StatusOK, resp)
	})
}

func letter(r tail.Record) Letter {
	l := Letter{Time: r.Time.UTC().Format(time.RFC3339Nano)}
	h, err := deadletter.Parse(goka.Headers(r.Headers))
	if err != nil {
		l.HeaderProblem = err.Error()
	}
	l.Error, l.SourceTopic, l.SourcePartition, l.SourceOffset = h.Error, h.SourceTopic, h.SourcePartition, h.SourceOffset
	l.Key, _ = shown(r.Key)
	l.Value, l.Truncated = shown(r.Value)
	return l
}

// shown is b as text, cut to MaxShown bytes, invalid UTF-8 (or a rune cut
// in two) replaced by U+FFFD; true when cut.
func shown(b []byte) (string, bool) {
	cut := len(b) > MaxShown
	if cut {
		b = b[:MaxShown]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD"), cut
}
