package collabtext

import (
	"fmt"
	"slices"
	"strconv"
)

// Tombstones are what keeps a field's storage growing: a deleted
// character stays in the tree, because a replica that has not seen the
// delete, or one applying Fugue's insert rule (which can hang a new
// character from the leftmost node under a neighbour, deleted or not),
// may still name it as a parent. No replica can drop one on its own.
//
// So the server compacts (Compact): when a field holds enough of them,
// it starts the field's next epoch, whose state is the visible text
// alone, each character renamed from the epoch, so that every replica
// computes the same tree. It logs the old epoch's whole state as a reset
// (Batch.Reset); each replica rebases its copy onto it (Doc.Rebase):
// its own edits that the reset does not hold yet are translated into the
// new epoch, the same way the server translates them when they arrive
// (Translate). Translation is a function of the old state and the op
// alone, never of what else the new epoch holds, so the server and the
// replica that made an edit translate it alike, whichever of them does
// it first and whatever arrived in between.
//
// Translating an insert re-anchors it when its parent is in the old
// state: it hangs from an anchor, a tombstone of the new epoch named
// after the insert's place in the old tree and hung right of the nearest
// character to its left that the new epoch still has. Every translation
// of an insert at one place makes the same anchor, and a gap's anchors
// keep the order of their places, so a replica's text reads the same
// after it rebases. Anchors are tombstones: the next compaction drops
// them. Inserts whose parent is itself new to the old state keep it, so a
// run typed in one go stays whole. A delete of a character still visible
// in the old state deletes its new name; one of a tombstone is dropped.

// baseName names the characters an epoch starts with, anchorName its
// anchors. '=' starts no client id (FromText's names start so too, but
// are 32 hex digits).
func baseName(epoch uint64) string   { return "=" + strconv.FormatUint(epoch, 10) }
func anchorName(epoch uint64) string { return "=" + strconv.FormatUint(epoch, 10) + "/" }

// Tombstones is the number of deleted characters the field still holds.
func (d *Doc) Tombstones() int { return len(d.nodes) - d.visibleN }

// translator maps ops of old's epoch into the next one's.
type translator struct {
	old *Doc
	// base names the new epoch's characters, anchors its anchors.
	base, anchors string
	// at is each old node's place in text order, the first and last
	// place of its subtree (the root's place: the last of its left
	// subtrees), and its depth (the root's 0).
	at map[*node]span
	// mapped is, for each place in text order, the visible position of
	// the last visible character at or before it (-1: none).
	mapped []int
}

type span struct{ self, first, last, depth int }

func newTranslator(old *Doc) *translator {
	tr := &translator{old: old, base: baseName(old.epoch + 1), anchors: anchorName(old.epoch + 1), at: make(map[*node]span, len(old.nodes)+1)}
	tr.mapped = make([]int, 0, len(old.nodes))
	visible := -1
	old.traverse(func(n *node, depth int) {
		tr.at[n] = span{first: len(tr.mapped), depth: depth}
	}, func(n *node) bool {
		sp := tr.at[n]
		sp.self = len(tr.mapped)
		tr.at[n] = sp
		if !n.deleted {
			visible++
		}
		tr.mapped = append(tr.mapped, visible)
		return true
	}, func(n *node) {
		sp := tr.at[n]
		sp.last = len(tr.mapped) - 1
		tr.at[n] = sp
	})
	// The root has no place of its own: it stands for the last of its
	// left subtrees (none: -1).
	root := tr.at[&old.root]
	root.self = -1
	if k := len(old.root.left); k > 0 {
		root.self = tr.at[old.root.left[k-1]].last
	}
	tr.at[&old.root] = root
	return tr
}

// baseID is the new epoch's name of the visible character at pos.
func (tr *translator) baseID(pos int) ID { return ID{Replica: tr.base, Seq: uint64(pos) + 1} }

// visiblePos is the visible position of an old node (-1: a tombstone).
func (tr *translator) visiblePos(n *node) int {
	if n.deleted {
		return -1
	}
	return tr.mapped[tr.at[n].self]
}

// translate maps ops of the old epoch; the ops it drops are already in
// the new epoch's state, or deletes of what it does not hold.
func (tr *translator) translate(ops []Op) []Op {
	out := make([]Op, 0, len(ops))
	for _, op := range ops {
		out = tr.op(out, op)
	}
	return out
}

func (tr *translator) op(out []Op, op Op) []Op {
	if n, ok := tr.old.nodes[op.ID]; ok {
		// A character the old state holds: only a delete of a visible
		// one is news.
		deletes := op.Kind == Delete || op.Deleted
		if pos := tr.visiblePos(n); deletes && pos >= 0 {
			return append(out, Op{Kind: Delete, ID: tr.baseID(pos)})
		}
		return out
	}
	if op.Kind == Delete {
		return append(out, op) // of a character new to the old state
	}
	parent := &tr.old.root
	if !op.Parent.IsRoot() {
		p, ok := tr.old.nodes[op.Parent]
		if !ok {
			return append(out, op) // hangs from a character new to the old state
		}
		parent = p
	}
	// Where op would sit in the old state: after pred, the last old node
	// before it in text order.
	kids := parent.right
	if op.Side == Left {
		kids = parent.left
	}
	i, _ := slices.BinarySearchFunc(kids, op.ID, func(k *node, id ID) int { return compareIDs(k.id, id) })
	var pred int
	switch {
	case i > 0:
		pred = tr.at[kids[i-1]].last
	case op.Side == Left:
		pred = tr.at[parent].first - 1
	default:
		pred = tr.at[parent].self
	}
	// It hangs from the anchor of its place: a tombstone of the new
	// epoch, right of the last visible character at or before pred (or
	// before every character), named so that a gap's
	// anchors are in the order of their places. Between pred and the
	// next old node, the places are the slots on the path from pred up
	// to the two nodes' common ancestor (deepest first: a right child of
	// pred, then after the subtree ending at pred, of each ancestor), then
	// down the left side of the next node's ancestors (shallowest first).
	depth := tr.at[parent].depth
	slot := uint64(MaxNodes + 1 - depth) // going up
	if op.Side == Left && i == 0 {
		slot = uint64(MaxNodes + 2 + depth) // going down
	}
	const slots = 2*MaxNodes + 4
	anchor := Op{Kind: Insert, ID: ID{Replica: tr.anchors, Seq: uint64(pred+1)*slots + slot + 1}, Side: Right, Deleted: true}
	switch {
	case pred >= 0 && tr.mapped[pred] >= 0:
		anchor.Parent = tr.baseID(tr.mapped[pred])
	case tr.old.visibleN > 0:
		// Before every character: left of the first. Never left of the
		// root, which an insert at the start (after the root) would
		// then follow.
		anchor.Parent, anchor.Side = tr.baseID(0), Left
	}
	op.Parent, op.Side = anchor.ID, Right
	return append(out, anchor, op)
}

// Compact is old's field in its next epoch: old's visible characters,
// renamed base characters of the new epoch (each a right child of the
// root, in order), then old's held ops, translated. The new epoch holds
// no tombstone. The result is edited as old's replica.
func Compact(old *Doc) (*Doc, error) {
	d, _, err := compact(old)
	return d, err
}

func compact(old *Doc) (*Doc, *translator, error) {
	tr := newTranslator(old)
	d := New(old.replica)
	d.epoch, d.seq = old.epoch+1, old.seq
	d.nodes = make(map[ID]*node, old.visibleN)
	d.root.right = make([]*node, 0, old.visibleN)
	pos := 0
	old.walk(func(n *node) bool {
		if !n.deleted {
			d.attach(Op{Kind: Insert, ID: tr.baseID(pos), Side: Right, Char: n.char}, &d.root)
			pos++
		}
		return true
	})
	if err := d.Apply(tr.translate(old.heldOps())...); err != nil {
		return nil, nil, err
	}
	return d, tr, nil
}

// heldOps are the ops d holds back, in State's order.
func (d *Doc) heldOps() []Op {
	st := d.State()
	return st[len(d.nodes):]
}

// Rebase is d onto old's compaction (Compact(old)): old is the field as
// the server compacted it, which d holds all of, and d's edits beside
// it (the characters it inserted that old lacks, the deletes of old's
// characters, the ops it holds back) are translated into the new epoch.
// The result is edited as d's replica.
func (d *Doc) Rebase(old *Doc) (*Doc, error) {
	if old.epoch != d.epoch {
		return nil, fmt.Errorf("%w: a reset of epoch %d onto a field of epoch %d", ErrEpoch, old.epoch+1, d.epoch)
	}
	nd, tr, err := compact(old)
	if err != nil {
		return nil, err
	}
	nd.replica, nd.seq = d.replica, max(d.seq, nd.seq)
	var extra []Op
	for _, op := range d.State() {
		if n, ok := old.nodes[op.ID]; op.Kind == Insert && ok {
			if op.Deleted && !n.deleted {
				extra = append(extra, Op{Kind: Delete, ID: op.ID})
			}
			continue
		}
		extra = append(extra, op)
	}
	if err := nd.Apply(tr.translate(extra)...); err != nil {
		return nil, err
	}
	return nd, nil
}

// Translate is b, ops of old's epoch that reached the field after old
// was compacted, as ops of the next epoch (Compact(old)'s).
func Translate(old *Doc, b Batch) (Batch, error) {
	if b.Reset || b.Epoch != old.epoch {
		return Batch{}, fmt.Errorf("%w: ops of epoch %d (reset %v) through a state of epoch %d", ErrEpoch, b.Epoch, b.Reset, old.epoch)
	}
	return Batch{Epoch: old.epoch + 1, Ops: newTranslator(old).translate(b.Ops)}, nil
}

// Merge takes a batch received from the sync (a change's ops, a row's
// whole state, a reset) into d and returns the field after it: d itself,
// or a new Doc when the epoch moves on.
//   - Ops of d's epoch apply.
//   - A reset into d's next epoch rebases d (Rebase); a reset d is
//     already past is a duplicate.
//   - A whole state of a later epoch (a row sent to a replica whose
//     copy missed a reset: a snapshot) replaces d; d's own edits not in
//     it come back as the server translates them. A batch of a later
//     epoch that is not a whole state is refused (ErrEpoch).
//   - Ops of an older epoch are refused (ErrEpoch): only the server
//     translates them, with the old state it keeps (Translate).
func (d *Doc) Merge(b Batch) (*Doc, error) {
	switch {
	case b.Reset && b.Epoch <= d.epoch:
		return d, nil
	case b.Reset && b.Epoch == d.epoch+1:
		old := New("")
		old.epoch = d.epoch
		if err := old.Apply(b.Ops...); err != nil {
			return nil, err
		}
		return d.Rebase(old)
	case b.Reset:
		return nil, fmt.Errorf("%w: a reset into epoch %d of a field of epoch %d", ErrEpoch, b.Epoch, d.epoch)
	case b.Epoch == d.epoch:
		return d, d.Apply(b.Ops...)
	case b.Epoch > d.epoch:
		nd := New(d.replica)
		nd.epoch, nd.seq = b.Epoch, d.seq
		if err := nd.Apply(b.Ops...); err != nil {
			return nil, err
		}
		if nd.Held() > 0 {
			return nil, fmt.Errorf("%w: ops of epoch %d, not a whole state, for a field of epoch %d", ErrEpoch, b.Epoch, d.epoch)
		}
		return nd, nil
	default:
		return nil, fmt.Errorf("%w: ops of epoch %d for a field of epoch %d", ErrEpoch, b.Epoch, d.epoch)
	}
}

// StateEpoch is the epoch of a stored state, read off its header.
func StateEpoch(state []byte) (uint64, error) {
	if len(state) == 0 {
		return 0, nil
	}
	r := &reader{b: state}
	b := r.header()
	if r.err == nil && b.Reset {
		r.fail("a reset is not a state")
	}
	return b.Epoch, r.err
}

// ResetOf is the reset that compacts a stored state (see Compact) when
// it holds at least minTombstones deleted characters, and the epoch it
// compacts; nil when it holds fewer.
func ResetOf(state []byte, minTombstones int) (reset []byte, epoch uint64, err error) {
	if len(state) == 0 {
		return nil, 0, nil
	}
	b, err := DecodeBatch(state)
	if err == nil && b.Reset {
		err = fmt.Errorf("%w: a reset is not a state", ErrInvalid)
	}
	if err != nil {
		return nil, 0, err
	}
	n := 0
	for _, op := range b.Ops {
		if op.Kind == Insert && op.Deleted {
			n++
		}
	}
	if n < minTombstones {
		return nil, b.Epoch, nil
	}
	return EncodeBatch(Batch{Epoch: b.Epoch + 1, Reset: true, Ops: b.Ops}), b.Epoch, nil
}
