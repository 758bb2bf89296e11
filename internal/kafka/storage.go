package kafka

import (
	"fmt"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/lovoo/goka/storage"
	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
)

// offsetKey is where Goka's LevelDB storage keeps a partition's changelog
// offset; the buffered storage uses the same key, so state directories
// written by either are read by both.
const offsetKey = "__offset"

// DefaultMaxDirty is how many changed keys a buffered storage holds in
// memory before it writes them to LevelDB in one batch.
const DefaultMaxDirty = 8192

// BufferedBuilder builds the local storage of Goka tables: LevelDB (one
// database per topic partition under dir) behind a write-back buffer.
//
// Goka's own LevelDB storage writes every Set and every offset update
// separately, each a write(2) of LevelDB's journal: under load that is a
// third of a processor's CPU. Here changes collect in memory and reach
// LevelDB in one atomic batch together with the changelog offset they
// belong to, every maxDirty keys and when the storage closes. Reads see
// the buffer first.
//
// The local storage is only a cache of the table's changelog in Kafka:
// after a crash the buffered changes are gone, the database holds an
// older, consistent offset, and Goka replays the changelog from there.
func BufferedBuilder(dir string, maxDirty int) storage.Builder {
	if maxDirty <= 0 {
		maxDirty = DefaultMaxDirty
	}
	opts := &opt.Options{
		// State values are small and mostly unique; compression costs CPU
		// on every read of a table block and saves little.
		Compression: opt.NoCompression,
	}
	return func(topic string, partition int32) (storage.Storage, error) {
		path := filepath.Join(dir, fmt.Sprintf("%s.%d", topic, partition))
		db, err := leveldb.OpenFile(path, opts)
		if err != nil {
			return nil, fmt.Errorf("open leveldb %s: %w", path, err)
		}
		inner, err := storage.New(db)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("leveldb storage %s: %w", path, err)
		}
		return &buffered{inner: inner, db: db, maxDirty: maxDirty, dirty: map[string][]byte{}}, nil
	}
}

// buffered is a write-back buffer in front of Goka's LevelDB storage. The
// inner storage serves iteration (after a flush); gets, sets, deletes and
// offsets go through the buffer.
type buffered struct {
	inner    storage.Storage
	db       *leveldb.DB
	maxDirty int

	mu     sync.RWMutex
	dirty  map[string][]byte // a nil value is a delete
	offset int64             // latest offset set; 0 = none since open
	synced int64             // offset in the database
}

func (b *buffered) Open() error          { return nil }
func (b *buffered) MarkRecovered() error { return b.flush() }

func (b *buffered) Close() error {
	ferr := b.flush()
	if err := b.db.Close(); err != nil {
		return fmt.Errorf("close leveldb: %w", err)
	}
	return ferr
}

func (b *buffered) Has(key string) (bool, error) {
	v, err := b.Get(key)
	return v != nil, err
}

func (b *buffered) Get(key string) ([]byte, error) {
	b.mu.RLock()
	v, ok := b.dirty[key]
	b.mu.RUnlock()
	if ok {
		return v, nil
	}
	v, err := b.db.Get([]byte(key), nil)
	if err == leveldb.ErrNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("leveldb get %q: %w", key, err)
	}
	return v, nil
}

func (b *buffered) Set(key string, value []byte) error {
	if value == nil {
		value = []byte{} // nil marks a delete in the buffer
	}
	return b.put(key, value)
}

func (b *buffered) Delete(key string) error { return b.put(key, nil) }

func (b *buffered) put(key string, value []byte) error {
	b.mu.Lock()
	b.dirty[key] = value
	full := len(b.dirty) >= b.maxDirty
	b.mu.Unlock()
	if full {
		return b.flush()
	}
	return nil
}

func (b *buffered) GetOffset(def int64) (int64, error) {
	b.mu.RLock()
	off := b.offset
	b.mu.RUnlock()
	if off != 0 {
		return off, nil
	}
	data, err := b.db.Get([]byte(offsetKey), nil)
	if err == leveldb.ErrNotFound {
		return def, nil
	}
	if err != nil {
		return 0, fmt.Errorf("leveldb get offset: %w", err)
	}
	v, err := strconv.ParseInt(string(data), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("leveldb offset %q: %w", data, err)
	}
	return v, nil
}

func (b *buffered) SetOffset(offset int64) error {
	b.mu.Lock()
	b.offset = offset
	b.mu.Unlock()
	return nil
}

// flush writes the buffered changes and the offset in one batch.
func (b *buffered) flush() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.dirty) == 0 && b.offset == b.synced {
		return nil
	}
	batch := new(leveldb.Batch)
	for k, v := range b.dirty {
		if v == nil {
			batch.Delete([]byte(k))
		} else {
			batch.Put([]byte(k), v)
		}
	}
	if b.offset != 0 && b.offset != b.synced {
		batch.Put([]byte(offsetKey), []byte(strconv.FormatInt(b.offset, 10)))
	}
	if err := b.db.Write(batch, nil); err != nil {
		return fmt.Errorf("leveldb write of %d buffered changes: %w", len(b.dirty), err)
	}
	clear(b.dirty)
	if b.offset != 0 {
		b.synced = b.offset
	}
	return nil
}

func (b *buffered) Iterator() (storage.Iterator, error) {
	if err := b.flush(); err != nil {
		return nil, err
	}
	return b.inner.Iterator()
}

func (b *buffered) IteratorWithRange(start, limit []byte) (storage.Iterator, error) {
	if err := b.flush(); err != nil {
		return nil, err
	}
	return b.inner.IteratorWithRange(start, limit)
}
