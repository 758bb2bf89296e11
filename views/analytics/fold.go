package analytics

import (
	"fmt"
	"sync"

	"github.com/lovoo/goka/storage"

	"github.com/cdcflow/cdcflow/processors/analytics"
)

// Fold keeps the figures of the analytics table up to date in a Goka view:
// Storage wraps the view's storage so that every value the view stores
// moves its entity's contribution (analytics.Figures) of its partition,
// the old value's withdrawn and the new one's added. When a partition's
// storage opens, what it already holds (a local state kept across
// restarts) is folded once.
//
// Each partition has its own figures and lock, so no partition waits for
// another; Snapshot sums them.
type Fold struct {
	codec analytics.TableCodec

	mu    sync.Mutex
	parts map[int32]*partFigures
}

type partFigures struct {
	mu   sync.Mutex
	figs *analytics.Figures
}

// NewFold returns an empty fold.
func NewFold() *Fold { return &Fold{parts: map[int32]*partFigures{}} }

// Storage wraps a view's storage builder (goka.WithViewStorageBuilder).
func (f *Fold) Storage(next storage.Builder) storage.Builder {
	return func(topic string, partition int32) (storage.Storage, error) {
		st, err := next(topic, partition)
		if err != nil {
			return nil, err
		}
		return &foldStorage{Storage: st, fold: f, partition: partition}, nil
	}
}

// part returns the figures of a partition, reset when reset is set.
func (f *Fold) part(partition int32, reset bool) *partFigures {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.parts[partition]
	if p == nil || reset {
		p = &partFigures{figs: analytics.NewFigures()}
		f.parts[partition] = p
	}
	return p
}

// Snapshot implements Source: the sum of the partitions' figures.
func (f *Fold) Snapshot() (*Snapshot, error) {
	f.mu.Lock()
	parts := make([]*partFigures, 0, len(f.parts))
	for _, p := range f.parts {
		parts = append(parts, p)
	}
	f.mu.Unlock()
	sum := analytics.NewFigures()
	for _, p := range parts { // sums: any order
		p.mu.Lock()
		sum.Merge(p.figs)
		p.mu.Unlock()
	}
	return SnapshotOf(sum), nil
}

// decode decodes a stored value; nil (absent) and the values of keys that
// are neither orders nor lines count nothing.
func (f *Fold) decode(key string, data []byte) (any, error) {
	if data == nil || !analytics.IsEntityKey(key) {
		return nil, nil
	}
	v, err := f.codec.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("analytics fold: value of %s: %w", key, err)
	}
	return v, nil
}

// foldStorage is a partition's storage whose writes move the figures.
type foldStorage struct {
	storage.Storage
	fold      *Fold
	partition int32
	figs      *partFigures
}

// Open opens the storage and folds what it holds.
func (s *foldStorage) Open() error {
	if err := s.Storage.Open(); err != nil {
		return err
	}
	s.figs = s.fold.part(s.partition, true)
	it, err := s.Storage.Iterator()
	if err != nil {
		return fmt.Errorf("analytics fold: partition %d: iterate: %w", s.partition, err)
	}
	defer it.Release()
	s.figs.mu.Lock()
	defer s.figs.mu.Unlock()
	for it.Next() {
		key := string(it.Key())
		data, err := it.Value()
		if err != nil {
			return fmt.Errorf("analytics fold: partition %d: value of %s: %w", s.partition, key, err)
		}
		v, err := s.fold.decode(key, data)
		if err != nil {
			return err
		}
		s.figs.figs.Add(v, +1)
	}
	return it.Err()
}

// Set stores a value and moves its entity's contribution. A value that
// does not decode is refused (the view retries it) before anything
// changes: the figures never skip an entity.
func (s *foldStorage) Set(key string, value []byte) error {
	return s.move(key, value, func() error { return s.Storage.Set(key, value) })
}

// Delete deletes a value and withdraws its entity's contribution.
func (s *foldStorage) Delete(key string) error {
	return s.move(key, nil, func() error { return s.Storage.Delete(key) })
}

func (s *foldStorage) move(key string, value []byte, write func() error) error {
	if !analytics.IsEntityKey(key) {
		return write()
	}
	oldData, err := s.Storage.Get(key)
	if err != nil {
		return fmt.Errorf("analytics fold: get %s: %w", key, err)
	}
	old, err := s.fold.decode(key, oldData)
	if err != nil {
		return err
	}
	cur, err := s.fold.decode(key, value)
	if err != nil {
		return err
	}
	if err := write(); err != nil {
		return err
	}
	s.figs.mu.Lock()
	s.figs.figs.Add(old, -1)
	s.figs.figs.Add(cur, +1)
	s.figs.mu.Unlock()
	return nil
}
