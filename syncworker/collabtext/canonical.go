package collabtext

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"
)

// A fresh replica's initial sync receives thousands of whole states
// (Doc.State, as MarshalBinary encodes it) into fields that hold nothing
// yet. Loading each into a tree, re-encoding it and walking it for its
// text is most of that sync's cost, though the state received is almost
// always already what MarshalBinary would write. CanonicalText reads such
// a state in one pass, without building the tree.

// Bounds of the one-pass reader: a state past them is not refused, only
// left to Load.
const (
	// canonicalMaxNames bounds the names table (checked for duplicates
	// pairwise).
	canonicalMaxNames = 64
	// canonicalMaxSeq bounds a sequence number (each name's seen set is a
	// bitset of them).
	canonicalMaxSeq = 4 * MaxNodes
)

// CanonicalText reports whether b is exactly the canonical encoding of a
// state, byte for byte what Load(b) followed by MarshalBinary would
// write, and if so returns its visible text (Load(b).String()). Then b
// can be stored as received. When ok is false, b may still be a valid
// state (one out of canonical order, with ops held back, or past this
// reader's bounds) or an invalid one: Load decides, and refuses the
// invalid with ErrInvalid or ErrTooLarge. CanonicalText never accepts
// what Load refuses.
//
// Canonical means: MarshalBinary's layout (minimal varints, the names
// table in order of first use, each name once, every name used), only
// inserts, each ID once, and the ops in State's order, a pre-order walk
// of the tree (a node, then its left children, then its right children,
// siblings by ID), so that every op's parent is the previous op or one of
// its ancestors. The text is the in-order walk of that tree: a node's
// character comes after its left subtrees, i.e. when its first right
// child arrives or, failing that, when its subtree is done.
func CanonicalText(b []byte) (text string, ok bool) {
	s := canonScanner{b: b}
	switch f, ok := s.byte(); {
	case !ok:
		return "", false
	case f == formatEpochOps:
		// A compacted field's: MarshalBinary writes a later epoch so.
		if epoch, ok := s.uvarint(); !ok || epoch == 0 {
			return "", false
		}
	case f != formatOps:
		return "", false
	}
	nNames, ok := s.uvarint()
	if !ok || nNames > canonicalMaxNames {
		return "", false
	}
	names := make([][]byte, nNames)
	for i := range names {
		l, ok := s.uvarint()
		if !ok || l == 0 || l > MaxReplicaBytes || l > uint64(len(s.b)) {
			return "", false
		}
		names[i], s.b = s.b[:l], s.b[l:]
		for _, prev := range names[:i] {
			if bytes.Equal(prev, names[i]) {
				return "", false
			}
		}
	}
	// rank orders the names as compareIDs orders replicas.
	byName := make([]int, nNames)
	for i := range byName {
		byName[i] = i
	}
	slices.SortFunc(byName, func(x, y int) int { return bytes.Compare(names[x], names[y]) })
	rank := make([]int, nNames)
	for r, i := range byName {
		rank[i] = r + 1 // 0 is the root's
	}
	s.rank, s.seen = rank, make([][]uint64, nNames)

	count, ok := s.uvarint()
	// An op is at least 3 bytes (DecodeOps' bound).
	if !ok || count > MaxNodes || count*3 > uint64(len(s.b)) {
		return "", false
	}
	var out strings.Builder
	out.Grow(int(count))
	// path is the root and the ancestors of the next op's parent, down
	// to the last op read.
	// A run typed in one go is a chain as deep as it is long: room for
	// every op, in one allocation, reused by the next call (a fresh
	// device's initial sync calls this for every text field it receives).
	pooled := canonPaths.Get().(*[]canonNode)
	if cap(*pooled) < int(count)+1 {
		*pooled = make([]canonNode, 0, count+1)
	}
	path := append((*pooled)[:0], canonNode{})
	defer func() {
		// Not the rare long text's: a pool keeps what it is given until
		// two collections have passed.
		if cap(path) <= maxPooledPath {
			*pooled = path[:0]
			canonPaths.Put(pooled)
		}
	}()
	emit := func(n *canonNode) {
		if !n.emitted {
			n.emitted = true
			if !n.deleted && n.rank != 0 {
				out.WriteRune(n.char)
			}
		}
	}
	for range count {
		if kind, ok := s.byte(); !ok || OpKind(kind) != Insert {
			return "", false
		}
		id, ok := s.id()
		if !ok || id.rank == 0 || !s.markSeen(id) {
			return "", false
		}
		flags, ok := s.byte()
		side := Side(flags & 3)
		if !ok || flags&^(3|deletedFlag) != 0 || (side != Left && side != Right) {
			return "", false
		}
		deleted := flags&deletedFlag != 0
		parent, ok := s.id()
		if !ok {
			return "", false
		}
		c, ok := s.uvarint()
		if !ok || c > utf8.MaxRune || !utf8.ValidRune(rune(c)) || (deleted && c != 0) {
			return "", false
		}
		// The parent is on the path (not above the root): the ops
		// between it and this one were its earlier subtrees, done.
		for len(path) > 1 && path[len(path)-1].canonID != parent {
			emit(&path[len(path)-1])
			path = path[:len(path)-1]
		}
		p := &path[len(path)-1]
		if p.canonID != parent {
			return "", false
		}
		// Siblings: left ones before right ones, each side by ID.
		if side < p.lastSide || (side == p.lastSide && compareCanonIDs(p.last, id) >= 0) {
			return "", false
		}
		p.lastSide, p.last = side, id
		if side == Right {
			emit(p)
		}
		path = append(path, canonNode{canonID: id, char: rune(c), deleted: deleted})
	}
	if len(s.b) != 0 || s.nextName != len(names) {
		return "", false
	}
	for i := len(path) - 1; i > 0; i-- {
		emit(&path[i])
	}
	return out.String(), true
}

// canonPaths are CanonicalText's path buffers.
var canonPaths = sync.Pool{New: func() any { return new([]canonNode) }}

// maxPooledPath bounds the path buffers kept (in nodes, 48 bytes each).
const maxPooledPath = 4096

// canonID is an ID by its name's rank among the state's names (0 for the
// root) and its sequence number.
type canonID struct {
	rank int
	seq  uint64
}

func compareCanonIDs(a, b canonID) int {
	if a.rank != b.rank {
		return a.rank - b.rank
	}
	switch {
	case a.seq < b.seq:
		return -1
	case a.seq > b.seq:
		return 1
	}
	return 0
}

type canonNode struct {
	canonID
	char     rune
	deleted  bool
	emitted  bool
	lastSide Side
	last     canonID
}

type canonScanner struct {
	b        []byte
	rank     []int
	nextName int        // names are first used in table order
	seen     [][]uint64 // by rank - 1: bitsets of the sequence numbers met
}

func (s *canonScanner) byte() (byte, bool) {
	if len(s.b) == 0 {
		return 0, false
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c, true
}

// uvarint reads a varint in its shortest form (binary.AppendUvarint's):
// a longer one decodes the same but would not encode back the same.
func (s *canonScanner) uvarint() (uint64, bool) {
	if len(s.b) > 0 && s.b[0] < 0x80 {
		// One byte: most of a state's numbers.
		v := s.b[0]
		s.b = s.b[1:]
		return uint64(v), true
	}
	v, n := binary.Uvarint(s.b)
	if n <= 0 || (n > 1 && s.b[n-1] == 0) {
		return 0, false
	}
	s.b = s.b[n:]
	return v, true
}

func (s *canonScanner) id() (canonID, bool) {
	i, ok := s.uvarint()
	if !ok || i == 0 {
		return canonID{}, ok
	}
	if i > uint64(len(s.rank)) || int(i-1) > s.nextName {
		return canonID{}, false
	}
	if int(i-1) == s.nextName {
		s.nextName++
	}
	seq, ok := s.uvarint()
	if !ok || seq == 0 || seq > canonicalMaxSeq {
		return canonID{}, false
	}
	return canonID{rank: s.rank[i-1], seq: seq}, true
}

// markSeen records id's sequence number under its name and reports
// whether it was new.
func (s *canonScanner) markSeen(id canonID) bool {
	set := s.seen[id.rank-1]
	w, bit := int(id.seq/64), uint64(1)<<(id.seq%64)
	if w >= len(set) {
		set = slices.Grow(set, w+1-len(set))[:w+1]
		s.seen[id.rank-1] = set
	}
	if set[w]&bit != 0 {
		return false
	}
	set[w] |= bit
	return true
}
