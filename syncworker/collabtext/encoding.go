package collabtext

import (
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"unicode/utf8"
)

// The binary form below travels in changes and snapshots and sits in
// the replica's and the server's stores (a field's state is ops too). It
// starts with a format byte and a
// table of the replica names they use, so that an ID costs two varints.
// Decoders treat their input as hostile: every count and index is
// checked and bounded before anything is allocated for it.
const (
	formatOps = 1
	// deletedFlag, beside an insert's side, marks Op.Deleted.
	deletedFlag = 4
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
		flags := byte(op.Side)
		if op.Deleted {
			flags |= deletedFlag
		}
		body = append(body, flags)
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
		flags := r.byte()
		if flags&^(3|deletedFlag) != 0 {
			r.fail("op flags %d", flags)
		}
		op.Side, op.Deleted = Side(flags&3), flags&deletedFlag != 0
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

// State is the field's whole state as ops: every character, parents
// before their children, tombstones as deleted inserts without content,
// then the ops held back. Applied to an empty Doc, or to any other copy
// of the field, it brings everything this copy knows. The replica's
// name and counter are not part of it: the same state loads on every
// replica and on the server.
func (d *Doc) State() []Op {
	out := make([]Op, 0, len(d.nodes)+d.heldN)
	stack := make([]*node, 0, 64)
	push := func(n *node) {
		for i := len(n.right) - 1; i >= 0; i-- {
			stack = append(stack, n.right[i])
		}
		for i := len(n.left) - 1; i >= 0; i-- {
			stack = append(stack, n.left[i])
		}
	}
	push(&d.root)
	for len(stack) > 0 {
		n := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		op := Op{Kind: Insert, ID: n.id, Parent: n.parent.id, Side: n.side, Char: n.char, Deleted: n.deleted}
		if n.deleted {
			op.Char = 0
		}
		out = append(out, op)
		push(n)
	}
	// In a fixed order: equal fields have equal states.
	missing := slices.SortedFunc(maps.Keys(d.held), compareIDs)
	for _, m := range missing {
		out = append(out, d.held[m]...)
	}
	return out
}

// MarshalBinary is EncodeOps(State()).
func (d *Doc) MarshalBinary() ([]byte, error) { return EncodeOps(d.State()), nil }

// Load reads a state (or any ops) into a new Doc edited as replica. The
// replica's counter resumes after the highest ID of its name in it. No
// bytes at all are an empty field.
func Load(replica string, b []byte) (*Doc, error) {
	if len(b) == 0 {
		return New(replica), nil
	}
	ops, err := DecodeOps(b)
	if err != nil {
		return nil, err
	}
	d := New(replica)
	if err := d.Apply(ops...); err != nil {
		return nil, err
	}
	return d, nil
}
