package search

import "slices"

// blockMax is the most ordinals a posting block holds before it splits. It
// bounds the cost of inserting into or deleting from a long posting (a
// common word's, held by most documents) to moving at most this many
// entries, so a text update holds the index's write lock for microseconds.
const blockMax = 256

// block is a run of a posting: ords sorted ascending; tf holds, at the same
// position, the term's frequency in the name (high 16 bits) and in the
// description (low 16 bits).
type block struct {
	ords []uint32
	tf   []uint32
}

func (b *block) last() uint32 { return b.ords[len(b.ords)-1] }

// posting lists the documents holding a term as one sorted sequence of doc
// ordinals cut into blocks: every block is non-empty and every ordinal of a
// block is below every ordinal of the next.
type posting struct {
	blocks []block
	n      int // documents in the posting: the term's document frequency
}

// blockFor returns the index of the block where ord is or belongs: the first
// block whose last ordinal is ≥ ord, else the last block.
func (p *posting) blockFor(ord uint32) int {
	lo, hi := 0, len(p.blocks)-1
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if p.blocks[mid].last() < ord {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo
}

// set inserts ord with frequencies tf, or updates the frequencies of ord.
func (p *posting) set(ord, tf uint32) {
	if len(p.blocks) == 0 {
		p.blocks = append(p.blocks, block{ords: []uint32{ord}, tf: []uint32{tf}})
		p.n = 1
		return
	}
	lastB := &p.blocks[len(p.blocks)-1]
	if lastB.last() < ord { // appending: the common case when loading
		if len(lastB.ords) >= blockMax {
			p.blocks = append(p.blocks, block{ords: []uint32{ord}, tf: []uint32{tf}})
		} else {
			lastB.ords = append(lastB.ords, ord)
			lastB.tf = append(lastB.tf, tf)
		}
		p.n++
		return
	}
	i := p.blockFor(ord)
	b := &p.blocks[i]
	j, found := slices.BinarySearch(b.ords, ord)
	if found {
		b.tf[j] = tf
		return
	}
	b.ords = slices.Insert(b.ords, j, ord)
	b.tf = slices.Insert(b.tf, j, tf)
	p.n++
	if len(b.ords) > blockMax {
		half := len(b.ords) / 2
		next := block{ords: slices.Clone(b.ords[half:]), tf: slices.Clone(b.tf[half:])}
		b.ords, b.tf = slices.Clip(b.ords[:half]), slices.Clip(b.tf[:half])
		p.blocks = slices.Insert(p.blocks, i+1, next)
	}
}

// remove deletes ord, reporting whether it was there. Blocks that empty are
// dropped; a small block is merged with its successor when they fit in one.
func (p *posting) remove(ord uint32) bool {
	if len(p.blocks) == 0 {
		return false
	}
	i := p.blockFor(ord)
	b := &p.blocks[i]
	j, found := slices.BinarySearch(b.ords, ord)
	if !found {
		return false
	}
	b.ords = slices.Delete(b.ords, j, j+1)
	b.tf = slices.Delete(b.tf, j, j+1)
	p.n--
	switch {
	case len(b.ords) == 0:
		p.blocks = slices.Delete(p.blocks, i, i+1)
	case len(b.ords) < blockMax/4 && i+1 < len(p.blocks) && len(b.ords)+len(p.blocks[i+1].ords) <= blockMax/2:
		next := p.blocks[i+1]
		b.ords = append(b.ords, next.ords...)
		b.tf = append(b.tf, next.tf...)
		p.blocks = slices.Delete(p.blocks, i+1, i+2)
	}
	return true
}

// cursor walks a posting forward, for intersections.
type cursor struct {
	p  *posting
	bi int // current block
	j  int // position in the current block
}

// seek moves to the first ordinal ≥ ord and reports whether it is ord, with
// its frequencies; exhausted is true when no ordinal ≥ ord is left. The
// cursor only moves forward: seeks must come in ascending order.
func (c *cursor) seek(ord uint32) (tf uint32, found, exhausted bool) {
	blocks := c.p.blocks
	for c.bi < len(blocks) && blocks[c.bi].last() < ord {
		c.bi++
		c.j = 0
	}
	if c.bi == len(blocks) {
		return 0, false, true
	}
	b := &blocks[c.bi]
	c.j = gallop(b.ords, c.j, ord) // < len(b.ords): b.last() ≥ ord
	if b.ords[c.j] != ord {
		return 0, false, false
	}
	return b.tf[c.j], true, false
}

// gallop returns the first index ≥ from at which s[index] ≥ x (len(s) when
// none): exponential then binary search, so a cursor walking a long run for
// a few targets costs O(targets · log(gap)).
func gallop(s []uint32, from int, x uint32) int {
	if from >= len(s) || s[from] >= x {
		return from
	}
	step := 1
	lo := from // s[lo] < x
	hi := from + step
	for hi < len(s) && s[hi] < x {
		lo = hi
		step <<= 1
		hi = lo + step
	}
	if hi > len(s) {
		hi = len(s)
	}
	// s[lo] < x, and s[hi] ≥ x or hi == len(s)
	i, _ := slices.BinarySearch(s[lo+1:hi], x)
	return lo + 1 + i
}
