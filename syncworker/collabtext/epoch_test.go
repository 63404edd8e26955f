package collabtext

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// TestCompactKeepsTheTextAndDropsTombstones: a compacted field reads the
// same, holds no tombstone, has the next epoch, and its state loads back
// (epoch included) on any replica; the next compaction's names differ.
func TestCompactKeepsTheTextAndDropsTombstones(t *testing.T) {
	ok := mustOps(t)
	d := New("a")
	ok(d.Insert(0, "hello brave new world"))
	ok(d.Delete(6, 6))
	ok(d.Insert(6, "big "))
	if d.Tombstones() != 6 {
		t.Fatalf("tombstones %d", d.Tombstones())
	}
	c, err := Compact(d)
	if err != nil {
		t.Fatal(err)
	}
	if c.String() != d.String() || c.Tombstones() != 0 || c.Epoch() != 1 || c.Nodes() != d.Len() {
		t.Fatalf("compacted: %q, %d tombstones, epoch %d, %d nodes", c.String(), c.Tombstones(), c.Epoch(), c.Nodes())
	}
	st, _ := c.MarshalBinary()
	back, err := Load("b", st)
	if err != nil || back.String() != d.String() || back.Epoch() != 1 {
		t.Fatalf("loaded: %v %q epoch %d", err, back.String(), back.Epoch())
	}
	if text, canonical := CanonicalText(st); !canonical || text != d.String() {
		t.Fatalf("CanonicalText of a compacted state: %q %v", text, canonical)
	}
	// The replica's counter goes on: its next character is new.
	ops := ok(c.Insert(0, ">"))
	if ops[0].ID != (ID{"a", 26}) {
		t.Fatalf("the next character after a compaction is %v", ops[0].ID)
	}
	c2, _ := Compact(c)
	if c2.IDs()[0].Replica == c.IDs()[0].Replica {
		t.Fatal("two epochs name their characters alike")
	}
}

// TestAnEditMadeBeforeACompactionLandsWhereItWasMade: replica b edits
// offline around characters another replica deleted; the server
// compacts the field; b's edit, translated by the server on arrival and
// by b when it rebases onto the reset, lands where b made it, alike on
// both.
func TestAnEditMadeBeforeACompactionLandsWhereItWasMade(t *testing.T) {
	ok := mustOps(t)
	server, a, b := New("server"), New("a"), New("b")
	base := ok(a.Insert(0, "one two three"))
	must(t, server.Apply(base...))
	must(t, b.Apply(base...))
	// a deletes "two " and the server has it; b, offline, types inside
	// the word a deleted and after it.
	must(t, server.Apply(ok(a.Delete(4, 4))...))
	edit := ok(b.Insert(6, "X"))                 // "one twXo three"
	edit = append(edit, ok(b.Insert(9, "Y"))...) // "one twXo Ythree"
	old := server
	reset := Batch{Epoch: 1, Reset: true, Ops: old.State()}
	server, err := server.Merge(reset)
	if err != nil || server.Tombstones() != 0 || server.String() != "one three" {
		t.Fatalf("server after the reset: %v %q", err, server.String())
	}
	// The server translates b's edit when it arrives.
	tr, err := Translate(old, Batch{Ops: edit})
	if err != nil {
		t.Fatal(err)
	}
	server, err = server.Merge(tr)
	if err != nil {
		t.Fatal(err)
	}
	if got := server.String(); got != "one XYthree" {
		t.Fatalf("server: %q", got)
	}
	// b rebases onto the reset and reads the same, then takes the
	// translated edit again (the server's echo) without change.
	b, err = b.Merge(reset)
	if err != nil || b.String() != "one XYthree" || b.Epoch() != 1 {
		t.Fatalf("b after the reset: %v %q", err, b.String())
	}
	if b, err = b.Merge(tr); err != nil || b.String() != "one XYthree" {
		t.Fatalf("b after its translated edit: %v %q", err, b.String())
	}
	sb, _ := b.MarshalBinary()
	ss, _ := server.MarshalBinary()
	if string(sb) != string(ss) {
		t.Fatal("b's state differs from the server's")
	}
	// A copy of b from before the reset that gets the server's state by
	// snapshot instead (a later epoch, whole): it takes that state, and
	// its edit comes back as the server's translation of it.
	c := New("b")
	must(t, c.Apply(base...))
	must(t, c.Apply(edit...))
	compacted, _ := Compact(old) // the server's state before b's edit arrived
	st, _ := compacted.MarshalBinary()
	whole, _ := DecodeBatch(st)
	if c, err = c.Merge(whole); err != nil || c.Epoch() != 1 || c.String() != "one three" {
		t.Fatalf("a snapshot's state of a later epoch: %v, %q at epoch %d", err, c.String(), c.Epoch())
	}
	if c, err = c.Merge(tr); err != nil || c.String() != "one XYthree" {
		t.Fatalf("then the translated edit: %v %q", err, c.String())
	}
	// Ops of the old epoch are refused by a replica; a later epoch's
	// edit that is not a whole state too.
	if _, err := b.Merge(Batch{Ops: edit}); !errors.Is(err, ErrEpoch) {
		t.Fatalf("old ops on a replica: %v", err)
	}
	later := Batch{Epoch: 5, Ops: []Op{{Kind: Delete, ID: ID{"=5", 1}}}}
	if _, err := b.Merge(later); !errors.Is(err, ErrEpoch) {
		t.Fatalf("a later epoch's edit: %v", err)
	}
}

// The property, with compactions: replicas and the server edit one
// field offline and online in random schedules while the server
// compacts it now and then; every replica ends with the server's text,
// and that text holds exactly the characters typed and not deleted by
// anyone. Each character typed is a rune of its own, so a character can
// be followed across the renames of compactions.

type epochEntry struct {
	origin int // the replica that pushed it; -1: the server
	batch  []byte
}

type epochReplica struct {
	doc     *Doc
	pending [][]byte
	cursor  int
}

type epochWorld struct {
	rng      *rand.Rand
	server   *Doc
	retained map[uint64]*Doc // the state each epoch was compacted from
	log      []epochEntry
	replicas []*epochReplica
	next     rune
	typed    map[rune]bool
	deleted  map[rune]bool
}

func (w *epochWorld) fresh(n int) string {
	var b strings.Builder
	for range n {
		w.next++
		w.typed[w.next] = true
		b.WriteRune(w.next)
	}
	return b.String()
}

// edit makes one random local edit on d and returns it encoded.
func (w *epochWorld) edit(t *testing.T, d *Doc) []byte {
	before := []rune(d.String())
	var ops []Op
	var err error
	switch k := w.rng.IntN(10); {
	case k < 5 || d.Len() == 0:
		ops, err = d.Insert(w.rng.IntN(d.Len()+1), w.fresh(1+w.rng.IntN(4)))
	case k < 8:
		pos := w.rng.IntN(d.Len())
		ops, err = d.Delete(pos, 1+w.rng.IntN(min(3, d.Len()-pos)))
	default:
		r := slices.Clone(before)
		cut := w.rng.IntN(len(r) + 1)
		r = slices.Delete(r, cut, min(len(r), cut+w.rng.IntN(3)))
		at := w.rng.IntN(len(r) + 1)
		r = slices.Insert(r, at, []rune(w.fresh(w.rng.IntN(4)))...)
		ops, err = d.SetText(string(r))
	}
	if err != nil {
		t.Fatal(err)
	}
	after := map[rune]bool{}
	for _, c := range d.String() {
		after[c] = true
	}
	for _, c := range before {
		if !after[c] {
			w.deleted[c] = true
		}
	}
	return d.Encode(ops)
}

// push sends a replica's oldest pending batch; the server translates it
// through every epoch since it was made, merges it and logs it, and logs
// a translated one again as its own, for the replica that made it.
func (w *epochWorld) push(t *testing.T, i int) {
	r := w.replicas[i]
	if len(r.pending) == 0 {
		return
	}
	b, err := DecodeBatch(r.pending[0])
	if err != nil {
		t.Fatal(err)
	}
	r.pending = r.pending[1:]
	translated := b.Epoch < w.server.Epoch()
	for b.Epoch < w.server.Epoch() {
		if b, err = Translate(w.retained[b.Epoch], b); err != nil {
			t.Fatal(err)
		}
	}
	if w.server, err = w.server.Merge(b); err != nil {
		t.Fatal(err)
	}
	enc := EncodeBatch(b)
	w.log = append(w.log, epochEntry{i, enc})
	if translated {
		w.log = append(w.log, epochEntry{-1, enc})
	}
}

// pull applies up to n log entries, leaving out the replica's own.
func (w *epochWorld) pull(t *testing.T, i, n int) {
	r := w.replicas[i]
	for ; n > 0 && r.cursor < len(w.log); n-- {
		e := w.log[r.cursor]
		r.cursor++
		if e.origin == i {
			continue
		}
		b, err := DecodeBatch(e.batch)
		if err != nil {
			t.Fatal(err)
		}
		before := r.doc.String()
		if r.doc, err = r.doc.Merge(b); err != nil {
			t.Fatalf("replica %d at epoch %d, entry of epoch %d (reset %v): %v", i, r.doc.Epoch(), b.Epoch, b.Reset, err)
		}
		if b.Reset && r.doc.String() != before {
			// The reset holds nothing this replica lacks (it pulls in
			// log order): its text must read the same after rebasing.
			t.Fatalf("replica %d read %q before a reset, %q after", i, before, r.doc.String())
		}
	}
}

func (w *epochWorld) compact(t *testing.T) {
	old := w.server
	reset := EncodeBatch(Batch{Epoch: old.Epoch() + 1, Reset: true, Ops: old.State()})
	b, err := DecodeBatch(reset)
	if err != nil {
		t.Fatal(err)
	}
	if w.server, err = w.server.Merge(b); err != nil {
		t.Fatal(err)
	}
	if w.server.Tombstones() != 0 || w.server.String() != old.String() {
		t.Fatalf("the server's compaction: %d tombstones, %q from %q", w.server.Tombstones(), w.server.String(), old.String())
	}
	w.retained[old.Epoch()] = old
	w.log = append(w.log, epochEntry{-1, reset})
}

func runEpochSchedule(t *testing.T, seed uint64) {
	w := &epochWorld{
		rng:      rand.New(rand.NewPCG(seed, seed^0x5851f42d4c957f2d)),
		server:   New("server"),
		retained: map[uint64]*Doc{},
		next:     0x10000,
		typed:    map[rune]bool{}, deleted: map[rune]bool{},
	}
	n := 3 + w.rng.IntN(3)
	for i := range n {
		w.replicas = append(w.replicas, &epochReplica{doc: New(string(rune('a' + i)))})
	}
	steps := 20 + w.rng.IntN(60)
	for range steps {
		i := w.rng.IntN(n)
		r := w.replicas[i]
		switch k := w.rng.IntN(24); {
		case k < 9:
			r.pending = append(r.pending, w.edit(t, r.doc))
		case k < 13:
			w.push(t, i)
		case k < 19:
			w.pull(t, i, 1+w.rng.IntN(4))
		case k < 20:
			// The app's backend writes the value on the server.
			w.log = append(w.log, epochEntry{-1, w.edit(t, w.server)})
		case k < 22:
			w.compact(t)
		default:
			// A replica restarts: its state through its stored form.
			st, _ := r.doc.MarshalBinary()
			d, err := Load(r.doc.Replica(), st)
			if err != nil || d.Epoch() != r.doc.Epoch() {
				t.Fatalf("seed %d: restart: %v, epoch %d of %d", seed, err, d.Epoch(), r.doc.Epoch())
			}
			r.doc = d
		}
	}
	for i, r := range w.replicas {
		for len(r.pending) > 0 {
			w.push(t, i)
		}
	}
	w.compact(t)
	want := w.server.String()
	for i, r := range w.replicas {
		w.pull(t, i, len(w.log))
		if got := r.doc.String(); got != want || r.doc.Held() != 0 || r.doc.Epoch() != w.server.Epoch() {
			t.Fatalf("seed %d: replica %d reads %q (epoch %d, %d held), the server %q (epoch %d)", seed, i, got, r.doc.Epoch(), r.doc.Held(), want, w.server.Epoch())
		}
		if r.doc.Tombstones() != 0 {
			t.Fatalf("seed %d: replica %d keeps %d tombstones after the last compaction", seed, i, r.doc.Tombstones())
		}
	}
	seen := map[rune]bool{}
	for _, c := range want {
		if seen[c] || !w.typed[c] || w.deleted[c] {
			t.Fatalf("seed %d: %U is visible twice, or was deleted or never typed", seed, c)
		}
		seen[c] = true
	}
	for c := range w.typed {
		if !w.deleted[c] && !seen[c] {
			t.Fatalf("seed %d: %U was typed, never deleted, and is gone", seed, c)
		}
	}
}

// TestRandomSchedulesWithCompactionsConverge runs 10,000 schedules of
// 3–5 replicas and a server that compacts (seeds 0–9,999: the same
// every run).
func TestRandomSchedulesWithCompactionsConverge(t *testing.T) {
	schedules := 10000
	if testing.Short() {
		schedules = 1000
	}
	for seed := range uint64(schedules) {
		runEpochSchedule(t, seed)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
