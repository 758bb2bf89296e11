package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/cdcflow/cdcflow/internal/config"
)

// Lag exports consumer_lag{topic,partition,service,consumer_group} (the
// Python services' gauge) for every consumer group a service runs: every
// interval it reads each group's committed offsets (OffsetFetch) and the
// partitions' high watermarks (ListOffsets), and sets the gauge to their
// difference: the records the group has still to handle. A partition the
// group never committed counts from its oldest offset (the groups start
// there). Every instance of a service reports the same group-wide values.
type Lag struct {
	s        *Settings
	log      *slog.Logger
	interval time.Duration
	gauge    *prometheus.GaugeVec // topic, partition, consumer_group

	mu     sync.Mutex
	groups map[string][]string // consumer group → the topics it consumes
}

// NewLag returns a Lag of service's groups whose gauge is registered on reg
// (nil: unregistered); interval 0 means config.DefaultLagInterval.
func NewLag(s *Settings, service string, reg prometheus.Registerer, interval time.Duration) *Lag {
	if interval <= 0 {
		interval = config.DefaultLagInterval
	}
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name:        "consumer_lag",
		Help:        "Records of a partition that the consumer group has not handled (committed) yet: high watermark minus committed offset.",
		ConstLabels: prometheus.Labels{"service": service},
	}, []string{"topic", "partition", "consumer_group"})
	if reg != nil {
		reg.MustRegister(g)
	}
	return &Lag{s: s, log: log, interval: interval, gauge: g, groups: map[string][]string{}}
}

// Watch adds the consumer group of a Goka group graph: its input streams
// and its loopback topic.
func (l *Lag) Watch(g *goka.GroupGraph) {
	topics := g.InputStreams().Topics()
	if loop := g.LoopStream(); loop != nil {
		topics = append(topics, loop.Topic())
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.groups[string(g.Group())] = topics
}

// Run updates the gauge every interval until ctx ends. A failed update
// (Kafka unreachable, a topic the group's processor has not created yet)
// is logged and tried again after 1 s, doubling up to the interval.
func (l *Lag) Run(ctx context.Context) error {
	var c *lagClient
	defer func() {
		if c != nil {
			c.close()
		}
	}()
	retry := time.Second
	for {
		err := func() (err error) {
			if c == nil {
				if c, err = l.connect(); err != nil {
					return err
				}
			}
			return l.update(c)
		}()
		wait := l.interval
		if err != nil {
			l.log.Warn("consumer lag not updated", "error", err, "retry_in", min(retry, l.interval))
			wait, retry = min(retry, l.interval), 2*retry
		} else {
			retry = time.Second
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// Update reads the offsets once and sets the gauge.
func (l *Lag) Update() error {
	c, err := l.connect()
	if err != nil {
		return err
	}
	defer c.close()
	return l.update(c)
}

type lagClient struct {
	client sarama.Client
	admin  sarama.ClusterAdmin
}

func (c *lagClient) close() { _ = c.admin.Close() } // closes the client too

func (l *Lag) connect() (*lagClient, error) {
	client, err := sarama.NewClient(l.s.Brokers, l.s.config(l.s.Sarama.ClientID+"-lag"))
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("cluster admin: %w", err)
	}
	return &lagClient{client: client, admin: admin}, nil
}

func (l *Lag) update(c *lagClient) error {
	l.mu.Lock()
	groups := make(map[string][]string, len(l.groups))
	for g, ts := range l.groups {
		groups[g] = ts
	}
	l.mu.Unlock()
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	var errs []error
	for _, g := range names {
		if err := l.updateGroup(c, g, groups[g]); err != nil {
			errs = append(errs, fmt.Errorf("group %s: %w", g, err))
		}
	}
	return errors.Join(errs...)
}

func (l *Lag) updateGroup(c *lagClient, group string, topics []string) error {
	parts := make(map[string][]int32, len(topics))
	for _, t := range topics {
		ps, err := c.client.Partitions(t)
		if err != nil {
			return fmt.Errorf("partitions of %s: %w", t, err)
		}
		parts[t] = ps
	}
	committed, err := c.admin.ListConsumerGroupOffsets(group, parts)
	if err == nil && committed.Err != sarama.ErrNoError {
		err = committed.Err
	}
	switch {
	case errors.Is(err, sarama.ErrGroupIDNotFound): // never committed (kfake says so; Kafka answers -1s)
		committed = &sarama.OffsetFetchResponse{}
	case err != nil:
		return fmt.Errorf("committed offsets: %w", err)
	}
	for _, t := range topics {
		for _, p := range parts[t] {
			high, err := c.client.GetOffset(t, p, sarama.OffsetNewest)
			if err != nil {
				return fmt.Errorf("high watermark of %s/%d: %w", t, p, err)
			}
			from := int64(-1)
			if b := committed.GetBlock(t, p); b != nil && b.Err == sarama.ErrNoError {
				from = b.Offset
			}
			if from < 0 { // never committed: the group starts at the oldest offset
				if from, err = c.client.GetOffset(t, p, sarama.OffsetOldest); err != nil {
					return fmt.Errorf("oldest offset of %s/%d: %w", t, p, err)
				}
			}
			l.gauge.WithLabelValues(t, strconv.Itoa(int(p)), group).Set(float64(max(high-from, 0)))
		}
	}
	return nil
}
