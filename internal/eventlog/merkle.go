package eventlog

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/openintent-go/openintent/gen/models"
)

// The Merkle tree of RFC-0019 (section 3.4): its leaves are the events' hashes in sequence
// order; while their number is not a power of two the last leaf is repeated; each parent is
// SHA-256 of its two children's digests concatenated. One leaf is its own root.

// depth is the number of levels above the leaves of a tree of n leaves.
func depth(n int64) int {
	if n <= 1 {
		return 0
	}
	return bits.Len64(uint64(n - 1))
}

// Root returns the root of the tree over leaves (the zero Hash when there are none).
func Root(leaves []Hash) Hash {
	if len(leaves) == 0 {
		return Hash{}
	}
	level := padded(leaves, 1<<depth(int64(len(leaves))))
	for len(level) > 1 {
		for i := 0; i < len(level)/2; i++ {
			level[i] = node(level[2*i], level[2*i+1])
		}
		level = level[:len(level)/2]
	}
	return level[0]
}

// padded copies leaves into a new slice of size, repeating the last.
func padded(leaves []Hash, size int) []Hash {
	out := make([]Hash, size)
	n := copy(out, leaves)
	for i := n; i < size; i++ {
		out[i] = leaves[len(leaves)-1]
	}
	return out
}

// Step is one sibling on the path from a leaf to the root.
type Step struct {
	Hash Hash
	// Left tells that the sibling is the left child (its digest comes first).
	Left bool
}

// Path returns the siblings of leaf index from the leaf up, computing the whole tree.
func Path(leaves []Hash, index int) []Step {
	if index < 0 || index >= len(leaves) {
		return nil
	}
	level := padded(leaves, 1<<depth(int64(len(leaves))))
	var path []Step
	for i := index; len(level) > 1; i >>= 1 {
		sib := i ^ 1
		path = append(path, Step{Hash: level[sib], Left: sib < i})
		for j := 0; j < len(level)/2; j++ {
			level[j] = node(level[2*j], level[2*j+1])
		}
		level = level[:len(level)/2]
	}
	return path
}

// Climb returns the root that path leads to from leaf.
func Climb(leaf Hash, path []Step) Hash {
	cur := leaf
	for _, s := range path {
		if s.Left {
			cur = node(s.Hash, cur)
		} else {
			cur = node(cur, s.Hash)
		}
	}
	return cur
}

// ErrBadProof is wrapped by the error of an inclusion proof that does not verify.
var ErrBadProof = errors.New("eventlog: inclusion proof does not verify")

// VerifyPath checks that leaf is leaf index of a tree of count leaves whose root is root: the
// path has one step per level, each on the side index's bits say, and climbs to root. A count
// of 0 means unknown: the path's length is then not checked.
func VerifyPath(leaf Hash, index, count int64, path []Step, root Hash) error {
	if index < 0 || (count > 0 && index >= count) {
		return fmt.Errorf("%w: leaf index %d outside a tree of %d leaves", ErrBadProof, index, count)
	}
	if count > 0 && len(path) != depth(count) {
		return fmt.Errorf("%w: %d steps for a tree of %d leaves, which has %d levels", ErrBadProof, len(path), count, depth(count))
	}
	if len(path) < 63 && index>>len(path) != 0 {
		return fmt.Errorf("%w: leaf index %d does not fit a path of %d steps", ErrBadProof, index, len(path))
	}
	for k, s := range path {
		if s.Left != (index>>k&1 == 1) {
			return fmt.Errorf("%w: step %d is on the %s, but leaf %d's ancestor there is a %s child", ErrBadProof, k, side(s.Left), index, side(!s.Left))
		}
	}
	if Climb(leaf, path) != root {
		return fmt.Errorf("%w: the path does not lead to the root %s", ErrBadProof, root)
	}
	return nil
}

func side(left bool) string {
	if left {
		return "left"
	}
	return "right"
}

// Positions of a proof step on the wire.
const (
	PositionLeft  = "left"
	PositionRight = "right"
)

// StepsToWire returns path as a proof's proof_hashes.
func StepsToWire(path []Step) []models.MerkleProofStep {
	out := make([]models.MerkleProofStep, len(path))
	for i, s := range path {
		out[i] = models.MerkleProofStep{Hash: s.Hash.String(), Position: PositionRight}
		if s.Left {
			out[i].Position = PositionLeft
		}
	}
	return out
}

// StepsFromWire reads a proof's proof_hashes.
func StepsFromWire(steps []models.MerkleProofStep) ([]Step, error) {
	out := make([]Step, len(steps))
	for i, s := range steps {
		h, err := Parse(s.Hash)
		if err != nil {
			return nil, fmt.Errorf("%w: step %d: %v", ErrBadProof, i, err)
		}
		switch s.Position {
		case PositionLeft:
			out[i] = Step{Hash: h, Left: true}
		case PositionRight:
			out[i] = Step{Hash: h}
		default:
			return nil, fmt.Errorf("%w: step %d: position %q is neither left nor right", ErrBadProof, i, s.Position)
		}
	}
	return out, nil
}

// VerifyProof checks a wire inclusion proof against root (the wire form of the checkpoint's
// merkle_root, which must also be the proof's) and the checkpoint's leaf count (0: unknown).
func VerifyProof(p models.MerkleProof, root string, count int64) error {
	if p.MerkleRoot != root {
		return fmt.Errorf("%w: the proof's merkle_root %s is not the checkpoint's %s", ErrBadProof, p.MerkleRoot, root)
	}
	if count > 0 && p.EventCount != 0 && p.EventCount != count {
		return fmt.Errorf("%w: the proof says its checkpoint has %d events, the checkpoint says %d", ErrBadProof, p.EventCount, count)
	}
	leaf, err := Parse(p.EventHash)
	if err != nil {
		return fmt.Errorf("%w: event_hash: %v", ErrBadProof, err)
	}
	r, err := Parse(root)
	if err != nil {
		return fmt.Errorf("%w: merkle_root: %v", ErrBadProof, err)
	}
	path, err := StepsFromWire(p.ProofHashes)
	if err != nil {
		return err
	}
	return VerifyPath(leaf, p.LeafIndex, count, path, r)
}

// BlockSize is how many leaves a Tree keeps under each of its lowest stored nodes: a proof
// reads one block of leaves and the stored nodes above it.
const BlockSize = 256

// Tree is what a store keeps of a Merkle tree to answer inclusion proofs without rebuilding it:
// the nodes from the level of blocks of Block leaves up to the root (two per block at most), so
// that a proof costs one block of leaves and a few dozen hashes however large the tree.
type Tree struct {
	// Count is the number of leaves (before padding).
	Count int64
	// Block is the number of leaves under each node of the lowest stored level (a power of
	// two: BlockSize, or the padded tree's width when smaller).
	Block int64
	// Upper holds the nodes from the blocks' level up, level by level, the root last.
	Upper []Hash
}

// Build returns the Tree over leaves (at least one).
func Build(leaves []Hash) Tree {
	n := int64(len(leaves))
	width := int64(1) << depth(n)
	t := Tree{Count: n, Block: min(width, BlockSize)}
	blocks := width / t.Block
	level := make([]Hash, blocks)
	var filler Hash // the root of a block holding copies of the last leaf only
	fillerDone := false
	scratch := make([]Hash, t.Block)
	for k := range blocks {
		lo := k * t.Block
		if lo >= n {
			if !fillerDone {
				filler = leaves[n-1]
				for w := t.Block; w > 1; w /= 2 {
					filler = node(filler, filler)
				}
				fillerDone = true
			}
			level[k] = filler
			continue
		}
		level[k] = blockRoot(scratch, leaves[lo:min(lo+t.Block, n)])
	}
	t.Upper = append(t.Upper, level...)
	for len(level) > 1 {
		next := make([]Hash, len(level)/2)
		for i := range next {
			next[i] = node(level[2*i], level[2*i+1])
		}
		t.Upper = append(t.Upper, next...)
		level = next
	}
	return t
}

// blockRoot is the root of a block of len(scratch) leaves whose real leaves are given (the rest
// repeat the last of them), computed in scratch.
func blockRoot(scratch, real []Hash) Hash {
	w := copy(scratch, real)
	for i := w; i < len(scratch); i++ {
		scratch[i] = real[len(real)-1]
	}
	for w = len(scratch); w > 1; w /= 2 {
		for i := 0; i < w/2; i++ {
			scratch[i] = node(scratch[2*i], scratch[2*i+1])
		}
	}
	return scratch[0]
}

// Root is the tree's root.
func (t Tree) Root() Hash { return t.Upper[len(t.Upper)-1] }

// Path returns the siblings of leaf index, given the real leaves of its block (those from
// index/Block*Block on, at most Block of them).
func (t Tree) Path(index int64, block []Hash) ([]Step, error) {
	if index < 0 || index >= t.Count {
		return nil, fmt.Errorf("eventlog: leaf %d outside a tree of %d leaves", index, t.Count)
	}
	lo := index / t.Block * t.Block
	if want := min(t.Block, t.Count-lo); int64(len(block)) != want {
		return nil, fmt.Errorf("eventlog: block of leaf %d: %d leaves given, %d expected", index, len(block), want)
	}
	level := padded(block, int(t.Block))
	var path []Step
	i := index - lo
	for len(level) > 1 {
		sib := i ^ 1
		path = append(path, Step{Hash: level[sib], Left: sib < i})
		for j := 0; j < len(level)/2; j++ {
			level[j] = node(level[2*j], level[2*j+1])
		}
		level = level[:len(level)/2]
		i >>= 1
	}
	width := int64(len(t.Upper)+1) / 2 // nodes on the blocks' level
	off := int64(0)
	for i = index / t.Block; width > 1; i >>= 1 {
		sib := i ^ 1
		path = append(path, Step{Hash: t.Upper[off+sib], Left: sib < i})
		off += width
		width /= 2
	}
	return path, nil
}
