package kafka

import (
	"context"
	"errors"
	"io"
	"net"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
)

// OrderedCommits wraps a consumer-group builder so that a partition's
// committed offset only ever advances over a contiguous prefix of completed
// messages.
//
// Goka marks a message's offset as soon as that message's emits are acked,
// and the emits of different messages go to different partitions and can
// complete out of order; Sarama keeps the highest mark. Without this wrapper
// a crash can commit past a message whose emits never landed, which would
// then never be processed again. With it, such a message is reprocessed
// after a restart and the processors' outboxes and marks make that exact.
func OrderedCommits(build goka.ConsumerGroupBuilder) goka.ConsumerGroupBuilder {
	return func(brokers []string, group, clientID string) (sarama.ConsumerGroup, error) {
		cg, err := build(brokers, group, clientID)
		if err != nil {
			return nil, err
		}
		return orderedGroup{cg}, nil
	}
}

type orderedGroup struct{ sarama.ConsumerGroup }

// joinRetries bounds how often Consume retries a session that could not be
// set up because the connection to the coordinator failed.
const joinRetries = 5

// Consume runs one session of the group. A session that cannot start
// because a request to the coordinator timed out or the connection broke
// (a JoinGroup held longer than Net.ReadTimeout while a crashed member is
// dropped, a coordinator restarting) is tried again, a few times with a
// pause: Goka stops the processor, and the service, on any error of
// Consume, and Sarama expects the caller to simply call Consume again.
func (g orderedGroup) Consume(ctx context.Context, topics []string, h sarama.ConsumerGroupHandler) error {
	for attempt := 1; ; attempt++ {
		err := g.ConsumerGroup.Consume(ctx, topics, &orderedHandler{inner: h})
		if err == nil || ctx.Err() != nil || attempt > joinRetries || !transientNetError(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * time.Second):
		}
	}
}

// transientNetError reports whether err is a broken or timed-out
// connection, which a new attempt on a new connection may not meet again.
func transientNetError(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNREFUSED)
}

type orderedHandler struct {
	inner   sarama.ConsumerGroupHandler
	mu      sync.Mutex
	session *orderedSession
}

func (h *orderedHandler) Setup(s sarama.ConsumerGroupSession) error {
	os := &orderedSession{ConsumerGroupSession: s, trackers: map[topicPartition]*tracker{}}
	h.mu.Lock()
	h.session = os
	h.mu.Unlock()
	return h.inner.Setup(os)
}

func (h *orderedHandler) Cleanup(s sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	os := h.session
	h.mu.Unlock()
	return h.inner.Cleanup(os)
}

func (h *orderedHandler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	h.mu.Lock()
	os := h.session
	h.mu.Unlock()
	t := os.tracker(c.Topic(), c.Partition())
	out := make(chan *sarama.ConsumerMessage, cap(c.Messages()))
	go func() {
		defer close(out)
		for m := range c.Messages() {
			t.dispatched(m.Offset)
			out <- m
		}
	}()
	return h.inner.ConsumeClaim(os, orderedClaim{ConsumerGroupClaim: c, msgs: out})
}

type orderedClaim struct {
	sarama.ConsumerGroupClaim
	msgs chan *sarama.ConsumerMessage
}

func (c orderedClaim) Messages() <-chan *sarama.ConsumerMessage { return c.msgs }

type topicPartition struct {
	topic     string
	partition int32
}

type orderedSession struct {
	sarama.ConsumerGroupSession
	mu       sync.Mutex
	trackers map[topicPartition]*tracker
}

func (s *orderedSession) tracker(topic string, partition int32) *tracker {
	s.mu.Lock()
	defer s.mu.Unlock()
	tp := topicPartition{topic, partition}
	t := s.trackers[tp]
	if t == nil {
		t = &tracker{}
		s.trackers[tp] = t
	}
	return t
}

// MarkOffset records that the message at offset-1 is complete and marks the
// first offset not yet complete.
func (s *orderedSession) MarkOffset(topic string, partition int32, offset int64, metadata string) {
	if next, ok := s.tracker(topic, partition).complete(offset - 1); ok {
		s.ConsumerGroupSession.MarkOffset(topic, partition, next, metadata)
	}
}

// MarkMessage is MarkOffset for a message.
func (s *orderedSession) MarkMessage(m *sarama.ConsumerMessage, metadata string) {
	s.MarkOffset(m.Topic, m.Partition, m.Offset+1, metadata)
}

// tracker follows the messages of one partition handed to the processor and
// which of them are complete.
type tracker struct {
	mu       sync.Mutex
	inflight []flight // in offset order
	last     int64    // highest dispatched offset
	any      bool
}

type flight struct {
	offset int64
	done   bool
}

func (t *tracker) dispatched(offset int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inflight = append(t.inflight, flight{offset: offset})
	t.last, t.any = offset, true
}

// complete marks offset done and returns the next offset to commit when the
// contiguous prefix advanced.
func (t *tracker) complete(offset int64) (next int64, advanced bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	i := sort.Search(len(t.inflight), func(i int) bool { return t.inflight[i].offset >= offset })
	if i == len(t.inflight) || t.inflight[i].offset != offset {
		// Not dispatched through this tracker (should not happen): commit
		// it only when nothing earlier is pending.
		if len(t.inflight) == 0 || t.inflight[0].offset > offset {
			return offset + 1, true
		}
		return 0, false
	}
	t.inflight[i].done = true
	n := 0
	for n < len(t.inflight) && t.inflight[n].done {
		n++
	}
	if n == 0 {
		return 0, false
	}
	next = t.inflight[n-1].offset + 1
	t.inflight = append(t.inflight[:0], t.inflight[n:]...)
	return next, true
}
