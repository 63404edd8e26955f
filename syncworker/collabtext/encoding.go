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
	// formatOps: ops of epoch 0, every field's first (format, names,
	// ops).
	formatOps = 1
	// formatEpochOps: ops of a later epoch (format, epoch, names, ops).
	formatEpochOps = 2
	// formatReset: a compaction (see Batch.Reset): format, the new epoch,
	// names, then the old epoch's whole state.
	formatReset = 3
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

func (w *writer) finish(b Batch, body []byte) []byte {
	var out []byte
	switch {
	case b.Reset:
		out = binary.AppendUvarint(append(w.buf, formatReset), b.Epoch)
	case b.Epoch > 0:
		out = binary.AppendUvarint(append(w.buf, formatEpochOps), b.Epoch)
	default:
		out = append(w.buf, formatOps)
	}
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

// Batch is ops as they travel and are stored: the epoch of the field
// they were made in (see Compact), or a reset.
type Batch struct {
	Epoch uint64
	// Reset says Ops are a field's whole state in epoch Epoch-1 as the
	// server compacted it into Epoch: a replica rebases its copy onto
	// it (Doc.Rebase).
	Reset bool
	Ops   []Op
}

// EncodeBatch is b's binary form.
func EncodeBatch(b Batch) []byte {
	w := newWriter()
	body := binary.AppendUvarint(nil, uint64(len(b.Ops)))
	for _, op := range b.Ops {
		body = w.op(body, op)
	}
	return w.finish(b, body)
}

// EncodeOps is the binary form of ops of epoch 0.
func EncodeOps(ops []Op) []byte { return EncodeBatch(Batch{Ops: ops}) }

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

func (r *reader) header() (b Batch) {
	switch f := r.byte(); {
	case r.err != nil:
	case f == formatOps:
	case f == formatEpochOps || f == formatReset:
		b.Reset, b.Epoch = f == formatReset, r.uvarint()
		if r.err == nil && b.Epoch == 0 {
			r.fail("epoch 0 in format %d", f)
		}
	default:
		r.fail("format %d", f)
	}
	r.nameTable()
	return b
}

func (r *reader) nameTable() {
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

// DecodeBatch reads EncodeBatch's form.
func DecodeBatch(b []byte) (Batch, error) {
	r := &reader{b: b}
	batch := r.header()
	// An op is at least 3 bytes: kind, replica index, sequence number.
	n := r.count(3, MaxNodes)
	if r.err != nil {
		return Batch{}, r.err
	}
	batch.Ops = make([]Op, 0, n)
	for range n {
		op := r.op()
		if r.err != nil {
			return Batch{}, r.err
		}
		batch.Ops = append(batch.Ops, op)
	}
	if r.err == nil && len(r.b) > 0 {
		r.fail("%d bytes after the ops", len(r.b))
	}
	if r.err != nil {
		return Batch{}, r.err
	}
	return batch, nil
}

// DecodeOps reads EncodeOps' form: ops of epoch 0, not a reset.
func DecodeOps(b []byte) ([]Op, error) {
	batch, err := DecodeBatch(b)
	if err == nil && (batch.Epoch != 0 || batch.Reset) {
		err = fmt.Errorf("%w: ops of epoch %d, want 0", ErrEpoch, batch.Epoch)
	}
	return batch.Ops, err
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

// MarshalBinary is the state (State) as a batch of the field's epoch.
func (d *Doc) MarshalBinary() ([]byte, error) {
	return EncodeBatch(Batch{Epoch: d.epoch, Ops: d.State()}), nil
}

// Encode is ops made on d (its edits, as Insert, Delete, SetText return
// them) in their binary form, of d's epoch.
func (d *Doc) Encode(ops []Op) []byte { return EncodeBatch(Batch{Epoch: d.epoch, Ops: ops}) }

// Load reads a state (or any ops of one epoch) into a new Doc edited as
// replica. The replica's counter resumes after the highest ID of its
// name in it. No bytes at all are an empty field.
func Load(replica string, b []byte) (*Doc, error) {
	if len(b) == 0 {
		return New(replica), nil
	}
	batch, err := DecodeBatch(b)
	if err != nil {
		return nil, err
	}
	if batch.Reset {
		return nil, fmt.Errorf("%w: a reset is not a state", ErrInvalid)
	}
	d := New(replica)
	d.epoch = batch.Epoch
	if err := d.Apply(batch.Ops...); err != nil {
		return nil, err
	}
	return d, nil
}
