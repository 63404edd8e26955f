// Package collabtext is a text field that merges character by character:
// a sequence CRDT (Fugue, Weidner and Kleppmann, "The Art of the Fugue",
// 2023) in pure Go, the same code in the worker and the server.
//
// Every character ever inserted is a node of a tree. A node is the left
// or the right child of another (or of the root), and the text is the
// tree read in order: left children, the node, right children; siblings
// on one side in the order of their IDs. A deleted character stays as a
// tombstone without its content, so that characters inserted next to it
// elsewhere still find their place. Concurrent insertions at one place
// never interleave character by character: each replica's run hangs from
// its own first character.
//
// Ops are idempotent and commute once their dependencies are met: an
// insert needs its parent, a delete its target. A Doc holds back an op
// whose dependency has not arrived yet (bounded) and applies it when it
// does, so replicas may exchange ops in any order.
package collabtext

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// ID names one character for ever: the replica that typed it and that
// replica's count of characters typed into this field so far (from 1).
// The zero ID is the root.
type ID struct {
	Replica string
	Seq     uint64
}

// IsRoot reports whether id is the tree's root, the parent of the first
// characters typed.
func (id ID) IsRoot() bool { return id == ID{} }

func (id ID) String() string {
	if id.IsRoot() {
		return "root"
	}
	return fmt.Sprintf("%s.%d", id.Replica, id.Seq)
}

func compareIDs(a, b ID) int {
	if c := strings.Compare(a.Replica, b.Replica); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}

// Side says which side of its parent a character hangs on.
type Side uint8

const (
	Left  Side = 1
	Right Side = 2
)

// OpKind is what an op does.
type OpKind uint8

const (
	Insert OpKind = 1
	Delete OpKind = 2
)

// Op is one character inserted or deleted.
type Op struct {
	Kind   OpKind
	ID     ID   // the character inserted, or the one deleted
	Parent ID   // Insert: the node it hangs from
	Side   Side // Insert: the side of Parent
	Char   rune // Insert: the character
	// Deleted marks an Insert of a character already deleted: how a
	// field's whole state travels (Doc.State), without the content of
	// its tombstones.
	Deleted bool
}

// Limits bound what one field may hold, so that no peer can make a
// replica or the server spend without bound on one field.
const (
	// MaxNodes is the most characters, tombstones included, one field
	// holds: its state (about 8–10 bytes a character) then stays under
	// the sync server's 1 MiB value cap, and merging a change, which
	// loads the state, stays cheap. The server compacts a field's
	// tombstones away (Compact) long before it gets there.
	MaxNodes = 1 << 16
	// MaxHeld is the most ops a Doc holds back waiting for a
	// dependency.
	MaxHeld = 1 << 12
)

// Stable error codes, as the sync wire reports them.
var (
	// ErrInvalid: an op or a state that cannot be (a bad side or kind, an
	// ID reused for a different character, a replica name too long).
	ErrInvalid = errors.New("TEXT_INVALID")
	// ErrTooLarge: the field would hold more than MaxNodes characters or
	// MaxHeld waiting ops.
	ErrTooLarge = errors.New("TEXT_TOO_LARGE")
	// ErrEpoch: ops of an epoch the field cannot take them in (see
	// Compact): one it has no translation for, or a newer one.
	ErrEpoch = errors.New("TEXT_EPOCH")
)

// MaxReplicaBytes bounds a replica name in an op or a state.
const MaxReplicaBytes = 256

type node struct {
	id      ID
	parent  *node
	side    Side
	char    rune
	deleted bool
	left    []*node // sorted by ID
	right   []*node // sorted by ID
}

// Doc is one replica's copy of a text field. It is not safe for
// concurrent use.
type Doc struct {
	replica string
	// epoch counts the compactions of the field (see Compact).
	epoch uint64
	root  node
	nodes map[ID]*node
	// seq is the last Seq this replica used.
	seq uint64
	// held are ops waiting for the node they name, by that node's ID.
	held  map[ID][]Op
	heldN int
	// heldInserts is the first held insert of each ID: a later op giving
	// that ID another place is refused whichever arrives first.
	heldInserts map[ID]Op
	visibleN    int
}

// New returns an empty field edited as replica (the device's client id;
// it must be unique among the field's editors and never empty).
func New(replica string) *Doc {
	return &Doc{replica: replica, nodes: make(map[ID]*node), held: make(map[ID][]Op), heldInserts: make(map[ID]Op)}
}

// Epoch is the number of compactions the field has been through: its
// ops are of this epoch (see Compact).
func (d *Doc) Epoch() uint64 { return d.epoch }

// Replica is the name local edits are made under.
func (d *Doc) Replica() string { return d.replica }

// Len is the number of visible characters.
func (d *Doc) Len() int { return d.visibleN }

// Nodes is the number of characters held, tombstones included.
func (d *Doc) Nodes() int { return len(d.nodes) }

// Held is the number of ops waiting for a dependency.
func (d *Doc) Held() int { return d.heldN }

// String is the visible text.
func (d *Doc) String() string {
	var b strings.Builder
	d.walk(func(n *node) bool {
		if !n.deleted {
			b.WriteRune(n.char)
		}
		return true
	})
	return b.String()
}

// walk visits the nodes in text order until visit returns false.
func (d *Doc) walk(visit func(*node) bool) { d.traverse(nil, visit, nil) }

// traverse walks the tree in text order: enter (if set) at the start of
// each node's subtree, the root's included, with the node's depth (the
// root's 0); visit at each node's place (not the root's), until it
// returns false; leave (if set) at the end of each subtree.
func (d *Doc) traverse(enter func(n *node, depth int), visit func(*node) bool, leave func(*node)) {
	// Iterative: a run typed in one go is a chain as deep as it is long.
	type frame struct {
		n    *node
		step int // 0: left children next, 1: the node, 2: right children
		i    int
	}
	stack := []frame{{n: &d.root}}
	if enter != nil {
		enter(&d.root, 0)
	}
	push := func(n *node) {
		stack = append(stack, frame{n: n})
		if enter != nil {
			enter(n, len(stack)-1)
		}
	}
	for len(stack) > 0 {
		f := &stack[len(stack)-1]
		switch f.step {
		case 0:
			if f.i < len(f.n.left) {
				f.i++
				push(f.n.left[f.i-1])
				continue
			}
			f.step, f.i = 1, 0
		case 1:
			if f.n != &d.root && !visit(f.n) {
				return
			}
			f.step = 2
		case 2:
			if f.i < len(f.n.right) {
				f.i++
				push(f.n.right[f.i-1])
				continue
			}
			if leave != nil {
				leave(f.n)
			}
			stack = stack[:len(stack)-1]
		}
	}
}

// order is the nodes in text order, tombstones included.
func (d *Doc) order() []*node {
	out := make([]*node, 0, len(d.nodes))
	d.walk(func(n *node) bool { out = append(out, n); return true })
	return out
}

func (d *Doc) nextID() (ID, error) {
	if d.replica == "" || len(d.replica) > MaxReplicaBytes {
		return ID{}, fmt.Errorf("%w: replica name %q", ErrInvalid, d.replica)
	}
	d.seq++
	return ID{Replica: d.replica, Seq: d.seq}, nil
}

// Insert types s before the visible character at pos (0 ≤ pos ≤ Len)
// and returns the ops to send.
func (d *Doc) Insert(pos int, s string) ([]Op, error) {
	if pos < 0 || pos > d.visibleN {
		return nil, fmt.Errorf("%w: insert at %d of %d", ErrInvalid, pos, d.visibleN)
	}
	if s == "" {
		return nil, nil
	}
	if len(d.nodes)+utf8.RuneCountInString(s) > MaxNodes {
		return nil, ErrTooLarge
	}
	return d.insertAfter(d.visibleAt(d.order(), pos-1), s)
}

// visibleAt is the visible character at pos of order (the root for
// pos -1).
func (d *Doc) visibleAt(order []*node, pos int) *node {
	seen := -1
	for _, n := range order {
		if !n.deleted {
			if seen++; seen == pos {
				return n
			}
		}
	}
	return &d.root
}

// insertAfter types s right after node a (the root: at the start).
// Fugue's rule: hang from a's right if nothing hangs there yet; else from
// the left of a's successor in text order, the leftmost node under a's
// right, which has no left children, so the new node lands between the
// two.
func (d *Doc) insertAfter(a *node, s string) ([]Op, error) {
	parent, side := a, Right
	if len(a.right) > 0 {
		parent, side = a.right[0], Left
		for len(parent.left) > 0 {
			parent = parent.left[0]
		}
	}
	ops := make([]Op, 0, utf8.RuneCountInString(s))
	for _, r := range s {
		id, err := d.nextID()
		if err != nil {
			return nil, err
		}
		op := Op{Kind: Insert, ID: id, Parent: parent.id, Side: side, Char: r}
		n := d.attach(op, parent)
		ops = append(ops, op)
		// The next character follows this one: nothing hangs from the
		// new node's right yet.
		parent, side = n, Right
	}
	return ops, nil
}

// Delete removes n visible characters from pos and returns the ops to
// send.
func (d *Doc) Delete(pos, n int) ([]Op, error) {
	if pos < 0 || n < 0 || pos+n > d.visibleN {
		return nil, fmt.Errorf("%w: delete %d at %d of %d", ErrInvalid, n, pos, d.visibleN)
	}
	if n == 0 {
		return nil, nil
	}
	return d.deleteAt(d.order(), pos, n), nil
}

func (d *Doc) deleteAt(order []*node, pos, count int) []Op {
	ops := make([]Op, 0, count)
	seen := 0
	for _, n := range order {
		if n.deleted {
			continue
		}
		if seen >= pos {
			n.deleted = true
			d.visibleN--
			ops = append(ops, Op{Kind: Delete, ID: n.id})
			if len(ops) == count {
				break
			}
		}
		seen++
	}
	return ops
}

// Apply applies ops from any replica, in any order: an op whose
// dependency has not arrived is held until it does. Ops already applied
// are skipped. On an error, the ops before the bad one stay applied.
func (d *Doc) Apply(ops ...Op) error {
	if len(d.nodes) == 0 && len(ops) > 1 {
		// A whole state loaded into an empty field (a snapshot's row,
		// a stored state): one allocation for the map, not one per
		// doubling.
		d.nodes = make(map[ID]*node, len(ops))
	}
	for _, op := range ops {
		if err := d.apply(op); err != nil {
			return err
		}
	}
	return nil
}

func checkOp(op Op) error {
	if op.ID.IsRoot() || op.ID.Replica == "" || len(op.ID.Replica) > MaxReplicaBytes || len(op.Parent.Replica) > MaxReplicaBytes {
		return fmt.Errorf("%w: op id %v", ErrInvalid, op.ID)
	}
	switch op.Kind {
	case Insert:
		if op.Side != Left && op.Side != Right {
			return fmt.Errorf("%w: side %d", ErrInvalid, op.Side)
		}
		if !utf8.ValidRune(op.Char) {
			return fmt.Errorf("%w: character %U", ErrInvalid, op.Char)
		}
		if op.Parent == op.ID || (op.Parent.Replica != "" && op.Parent.Seq == 0) || op.Deleted && op.Char != 0 {
			return fmt.Errorf("%w: parent %v of %v", ErrInvalid, op.Parent, op.ID)
		}
	case Delete:
		if op.Deleted || op.Char != 0 || !op.Parent.IsRoot() || op.Side != 0 {
			return fmt.Errorf("%w: delete of %v with insert fields", ErrInvalid, op.ID)
		}
	default:
		return fmt.Errorf("%w: op kind %d", ErrInvalid, op.Kind)
	}
	return nil
}

func (d *Doc) apply(op Op) error {
	if err := checkOp(op); err != nil {
		return err
	}
	// The replica's own counter moves past every ID of its name seen,
	// so that a replica restored from an older state never reuses one.
	if op.ID.Replica == d.replica && op.ID.Seq > d.seq {
		d.seq = op.ID.Seq
	}
	switch op.Kind {
	case Delete:
		n, ok := d.nodes[op.ID]
		if !ok {
			return d.hold(op.ID, op)
		}
		if !n.deleted {
			n.deleted = true
			d.visibleN--
		}
		return nil
	default:
		if n, ok := d.nodes[op.ID]; ok {
			if !compatible(nodeOp(n), op) {
				return fmt.Errorf("%w: %v inserted twice, differently", ErrInvalid, op.ID)
			}
			if op.Deleted && !n.deleted {
				n.deleted = true
				d.visibleN--
			}
			return nil
		}
		parent := &d.root
		if !op.Parent.IsRoot() {
			p, ok := d.nodes[op.Parent]
			if !ok {
				return d.hold(op.Parent, op)
			}
			parent = p
		}
		if err := d.attachRemote(op, parent); err != nil {
			return err
		}
		return d.release(op.ID)
	}
}

// attachRemote attaches an insert from another copy, refusing one that
// gives an ID another place than an insert of it still held.
func (d *Doc) attachRemote(op Op, parent *node) error {
	if len(d.nodes) >= MaxNodes {
		return ErrTooLarge
	}
	if first, ok := d.heldInserts[op.ID]; ok {
		if !compatible(first, op) {
			return fmt.Errorf("%w: %v inserted twice, differently", ErrInvalid, op.ID)
		}
		delete(d.heldInserts, op.ID)
	}
	d.attach(op, parent)
	return nil
}

// nodeOp is the insert that made n.
func nodeOp(n *node) Op {
	return Op{Kind: Insert, ID: n.id, Parent: n.parent.id, Side: n.side, Char: n.char, Deleted: n.deleted}
}

// compatible reports whether two inserts of one ID put it in the same
// place with the same character (a tombstone's is not known).
func compatible(a, b Op) bool {
	return a.Parent == b.Parent && a.Side == b.Side && (a.Deleted || b.Deleted || a.Char == b.Char)
}

// attach adds an insert's node under parent, in its siblings' order.
func (d *Doc) attach(op Op, parent *node) *node {
	n := &node{id: op.ID, parent: parent, side: op.Side, char: op.Char, deleted: op.Deleted}
	kids := &parent.right
	if op.Side == Left {
		kids = &parent.left
	}
	i, _ := slices.BinarySearchFunc(*kids, op.ID, func(k *node, id ID) int { return compareIDs(k.id, id) })
	*kids = slices.Insert(*kids, i, n)
	d.nodes[op.ID] = n
	if !n.deleted {
		d.visibleN++
	}
	return n
}

func (d *Doc) hold(missing ID, op Op) error {
	for _, h := range d.held[missing] {
		if h == op {
			return nil
		}
	}
	if d.heldN >= MaxHeld {
		return ErrTooLarge
	}
	if op.Kind == Insert {
		if first, ok := d.heldInserts[op.ID]; ok && !compatible(first, op) {
			return fmt.Errorf("%w: %v inserted twice, differently", ErrInvalid, op.ID)
		} else if !ok {
			d.heldInserts[op.ID] = op
		}
	}
	d.held[missing] = append(d.held[missing], op)
	d.heldN++
	return nil
}

// release applies the ops that waited for id, and those that waited for
// them in turn.
func (d *Doc) release(id ID) error {
	queue := []ID{id}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		waiting := d.held[next]
		if len(waiting) == 0 {
			continue
		}
		delete(d.held, next)
		d.heldN -= len(waiting)
		for _, op := range waiting {
			// Inserts release their own dependents here, not by
			// recursion: a long chain arriving backwards stays flat.
			if _, exists := d.nodes[op.ID]; op.Kind == Insert && !exists {
				if err := d.attachRemote(op, d.nodes[next]); err != nil {
					return err
				}
				queue = append(queue, op.ID)
				continue
			}
			if err := d.apply(op); err != nil {
				return err
			}
		}
	}
	return nil
}

// Visible reports whether the character id is in the text now.
func (d *Doc) Visible(id ID) bool {
	n, ok := d.nodes[id]
	return ok && !n.deleted
}

// IDs are the visible characters' IDs in text order.
func (d *Doc) IDs() []ID {
	var out []ID
	d.walk(func(n *node) bool {
		if !n.deleted {
			out = append(out, n.id)
		}
		return true
	})
	return out
}
