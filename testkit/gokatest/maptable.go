package gokatest

import (
	"sort"

	"github.com/lovoo/goka"
)

// MapTable stands in for a Goka view over decoded values: Get and Iterator
// as a view has them, iterating in key order as LevelDB does.
type MapTable map[string]interface{}

// Get returns the value of key, nil when absent.
func (m MapTable) Get(key string) (interface{}, error) { return m[key], nil }

// Iterator iterates over a snapshot of the keys, in order.
func (m MapTable) Iterator() (goka.Iterator, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return &mapIterator{m: m, keys: keys, i: -1}, nil
}

type mapIterator struct {
	m    MapTable
	keys []string
	i    int
}

func (it *mapIterator) Next() bool                  { it.i++; return it.i < len(it.keys) }
func (it *mapIterator) Err() error                  { return nil }
func (it *mapIterator) Key() string                 { return it.keys[it.i] }
func (it *mapIterator) Value() (interface{}, error) { return it.m[it.keys[it.i]], nil }
func (it *mapIterator) Release()                    {}
func (it *mapIterator) Seek(string) bool            { return false }
