package collabtext

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"
)

// The binary forms below travel in changes and snapshots and sit in the
// replica's and the server's stores. Both start with a format byte and a
// table of the replica names they use, so that an ID costs two varints.
// Decoders treat their input as hostile: every count and index is
// checked and bounded before anything is allocated for it.
const (
	formatOps   = 1
	formatState = 2
	// maxReplicas bounds a table of replica names.
	maxReplicas = 1 << 16
)

type writer struct {
	buf      []byte
	replicas map[string]uint64
	names    []string
}

func (w *writer) name(r string) uint64 {
	if i, ok := w.replicas[r]; ok {
		return i
	}
	i := uint64(len(w.names))
	w.replicas[r] = i
	w.names = append(w.names, r)
	return i
}

// id appends an ID: 0 for the root, else the replica's index + 1, then
// the sequence number.
func (w *writer) id(body []byte, id ID) []byte {
	if id.IsRoot() {
		return binary.AppendUvarint(body, 0)
	}
	body = binary.AppendUvarint(body, w.name(id.Replica)+1)
	return binary.AppendUvarint(body, id.Seq)
}

func (w *writer) finish(format byte, body []byte) []byte {
	out := append(w.buf, format)
	out = binary.AppendUvarint(out, uint64(len(w.names)))
	for _, n := range w.names {
		out = binary.AppendUvarint(out, uint64(len(n)))
		out = append(out, n...)
	}
	return append(out, body...)
}

func newWriter() *writer { return &writer{replicas: make(map[string]uint64)} }

func (w *writer) op(body []byte, op Op) []byte {
	body = append(body, byte(op.Kind))
	body = w.id(body, op.ID)
	if op.Kind == Insert {
		body = append(body, byte(op.Side))
		body = w.id(body, op.Parent)
		body = binary.AppendUvarint(body, uint64(op.Char))
	}
	return body
}

// EncodeOps is ops' binary form.
func EncodeOps(ops []Op) []byte {
	w := newWriter()
	body := binary.AppendUvarint(nil, uint64(len(ops)))
	for _, op := range ops {
		body = w.op(body, op)
	}
	return w.finish(formatOps, body)
}

type reader struct {
	b     []byte
	names []string
	err   error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
	}
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b) == 0 {
		r.fail("truncated")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// count reads a count of items each at least min bytes long, refusing
// one the rest of the input cannot hold or above limit.
func (r *reader) count(min, limit int) int {
	n := r.uvarint()
	if r.err == nil && (n > uint64(limit) || n*uint64(min) > uint64(len(r.b))) {
		r.fail("count %d too large", n)
		return 0
	}
	return int(n)
}

func (r *reader) header(format byte) {
	if f := r.byte(); r.err == nil && f != format {
		r.fail("format %d, want %d", f, format)
	}
	n := r.count(1, maxReplicas)
	for range n {
		l := r.count(1, MaxReplicaBytes)
		if r.err != nil {
			return
		}
		if l == 0 {
			r.fail("empty replica name")
			return
		}
		r.names = append(r.names, string(r.b[:l]))
		r.b = r.b[l:]
	}
}

func (r *reader) id() ID {
	i := r.uvarint()
	if r.err != nil || i == 0 {
		return ID{}
	}
	if i > uint64(len(r.names)) {
		r.fail("replica index %d of %d", i, len(r.names))
		return ID{}
	}
	seq := r.uvarint()
	if r.err == nil && seq == 0 {
		r.fail("sequence number 0")
	}
	return ID{Replica: r.names[i-1], Seq: seq}
}

func (r *reader) char() rune {
	c := r.uvarint()
	if r.err == nil && (c > utf8.MaxRune || !utf8.ValidRune(rune(c))) {
		r.fail("character %d", c)
		return 0
	}
	return rune(c)
}

func (r *reader) op() Op {
	op := Op{Kind: OpKind(r.byte())}
	op.ID = r.id()
	if op.Kind == Insert {
		op.Side = Side(r.byte())
		op.Parent = r.id()
		op.Char = r.char()
	}
	if r.err == nil {
		if err := checkOp(op); err != nil {
			r.err = err
		}
	}
	return op
}

// DecodeOps reads EncodeOps' form.
func DecodeOps(b []byte) ([]Op, error) {
	r := &reader{b: b}
	r.header(formatOps)
	// An op is at least 3 bytes: kind, replica index, sequence number.
	n := r.count(3, MaxNodes)
	ops := make([]Op, 0, n)
	for range n {
		op := r.op()
		if r.err != nil {
			return nil, r.err
		}
		ops = append(ops, op)
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d bytes after the ops", len(r.b))
	}
	return ops, r.err
}

// MarshalBinary is the field's state: every node, parents before their
// children, and the ops held back. A deleted character's content is not
// kept. The replica's name and counter are not part of it: the same
// state loads on every replica and on the server.
func (d *Doc) MarshalBinary() ([]byte, error) {
	w := newWriter()
	body := binary.AppendUvarint(nil, uint64(len(d.nodes)))
	stack := make([]*node, 0, 64)
	stack = append(stack, d.root.left...)
	stack = append(stack, d.root.right...)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		body = w.id(body, n.id)
		body = w.id(body, n.parent.id)
		flags := byte(n.side)
		if n.deleted {
			flags |= 4
		}
		body = append(body, flags)
		if !n.deleted {
			body = binary.AppendUvarint(body, uint64(n.char))
		}
		stack = append(stack, n.left...)
		stack = append(stack, n.right...)
	}
	body = binary.AppendUvarint(body, uint64(d.heldN))
	// In a fixed order: equal fields have equal states.
	missing := slices.SortedFunc(maps.Keys(d.held), compareIDs)
	for _, m := range missing {
		for _, op := range d.held[m] {
			body = w.op(body, op)
		}
	}
	return w.finish(formatState, body), nil
}

// Load reads MarshalBinary's form into a new Doc edited as replica. The
// replica's counter resumes after the highest ID of its name in the
// state.
func Load(replica string, b []byte) (*Doc, error) {
	d := New(replica)
	r := &reader{b: b}
	r.header(formatState)
	// A node is at least 4 bytes: id (2), parent (1), flags (1).
	n := r.count(4, MaxNodes)
	for range n {
		id := r.id()
		parentID := r.id()
		flags := r.byte()
		if r.err != nil {
			return nil, r.err
		}
		side, deleted := Side(flags&3), flags&4 != 0
		if flags&^7 != 0 || (side != Left && side != Right) || id.IsRoot() {
			r.fail("node %v flags %d", id, flags)
			return nil, r.err
		}
		var char rune
		if !deleted {
			char = r.char()
		}
		parent := &d.root
		if !parentID.IsRoot() {
			p, ok := d.nodes[parentID]
			if !ok {
				r.fail("node %v before its parent %v", id, parentID)
				return nil, r.err
			}
			parent = p
		}
		if _, dup := d.nodes[id]; dup {
			r.fail("node %v twice", id)
		}
		if r.err != nil {
			return nil, r.err
		}
		nd := d.attach(Op{Kind: Insert, ID: id, Parent: parentID, Side: side, Char: char}, parent)
		if deleted {
			nd.deleted = true
			d.visibleN--
		}
		if id.Replica == replica && id.Seq > d.seq {
			d.seq = id.Seq
		}
	}
	held := r.count(3, MaxHeld)
	ops := make([]Op, 0, held)
	for range held {
		op := r.op()
		if r.err != nil {
			return nil, r.err
		}
		ops = append(ops, op)
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d bytes after the state", len(r.b))
	}
	if r.err != nil {
		return nil, r.err
	}
	if err := d.Apply(ops...); err != nil {
		return nil, err
	}
	return d, nil
}
