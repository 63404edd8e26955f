package collabtext

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func mustOps(t testing.TB) func([]Op, error) []Op {
	return func(ops []Op, err error) []Op {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return ops
	}
}

func TestLocalEditsReadBack(t *testing.T) {
	ok := mustOps(t)
	d := New("a")
	ok(d.Insert(0, "hello world"))
	ok(d.Insert(5, ","))
	ok(d.Delete(0, 1))
	ok(d.Insert(0, "H"))
	ok(d.Insert(d.Len(), "!"))
	if got := d.String(); got != "Hello, world!" {
		t.Fatalf("got %q", got)
	}
	if _, err := d.Insert(99, "x"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("insert past the end: %v", err)
	}
	if _, err := d.Delete(10, 10); !errors.Is(err, ErrInvalid) {
		t.Fatalf("delete past the end: %v", err)
	}
}

// TestConcurrentRunsDoNotInterleave: two replicas type a word at the
// same place, offline; after the exchange both read the same text, with
// each word whole.
func TestConcurrentRunsDoNotInterleave(t *testing.T) {
	ok := mustOps(t)
	a, b := New("a"), New("b")
	base := ok(a.Insert(0, "the fox"))
	if err := b.Apply(base...); err != nil {
		t.Fatal(err)
	}
	fromA := ok(a.Insert(4, "quick "))
	fromB := ok(b.Insert(4, "brown "))
	if err := a.Apply(fromB...); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(fromA...); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Fatalf("diverged: %q vs %q", a.String(), b.String())
	}
	if got := a.String(); got != "the quick brown fox" && got != "the brown quick fox" {
		t.Fatalf("interleaved: %q", got)
	}
}

// TestSetTextKeepsAConcurrentEdit: a plain UPDATE of the whole value on
// one replica and a character edit elsewhere in the field on another
// both survive: the UPDATE becomes the characters it changed, not a
// replacement of the field.
func TestSetTextKeepsAConcurrentEdit(t *testing.T) {
	ok := mustOps(t)
	a, b := New("a"), New("b")
	if err := b.Apply(ok(a.SetText("Buy milk. Call Ann."))...); err != nil {
		t.Fatal(err)
	}
	fromA := ok(a.SetText("Buy oat milk. Call Ann."))
	fromB := ok(b.SetText("Buy milk. Call Ann at 5."))
	if err := a.Apply(fromB...); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(fromA...); err != nil {
		t.Fatal(err)
	}
	want := "Buy oat milk. Call Ann at 5."
	if a.String() != want || b.String() != want {
		t.Fatalf("got %q and %q, want %q", a.String(), b.String(), want)
	}
	if len(fromA) != 4 {
		t.Fatalf("the UPDATE became %d ops, want the 4 characters it added", len(fromA))
	}
}

// TestOpsArriveInAnyOrder: ops delivered backwards are held until their
// dependencies arrive, then applied.
func TestOpsArriveInAnyOrder(t *testing.T) {
	ok := mustOps(t)
	a := New("a")
	ops := ok(a.Insert(0, "abcdef"))
	ops = append(ops, ok(a.Delete(1, 2))...)
	b := New("b")
	rev := slices.Clone(ops)
	slices.Reverse(rev)
	for i, op := range rev {
		if err := b.Apply(op); err != nil {
			t.Fatal(err)
		}
		if i < len(rev)-1 && b.Len() != 0 {
			t.Fatalf("applied %v before its parent", op)
		}
	}
	if b.String() != "adef" || b.Held() != 0 {
		t.Fatalf("got %q with %d held", b.String(), b.Held())
	}
	// Again: idempotent.
	if err := b.Apply(ops...); err != nil || b.String() != "adef" {
		t.Fatalf("re-applied: %q %v", b.String(), err)
	}
}

func TestHostileOpsAreRefused(t *testing.T) {
	d := New("a")
	bad := []Op{
		{Kind: Insert, ID: ID{"x", 1}, Side: 3, Char: 'a'},
		{Kind: Insert, ID: ID{"x", 1}, Parent: ID{"x", 1}, Side: Left, Char: 'a'},
		{Kind: Insert, ID: ID{}, Side: Left, Char: 'a'},
		{Kind: Insert, ID: ID{"x", 1}, Side: Left, Char: 0xD800},
		{Kind: 9, ID: ID{"x", 1}},
		{Kind: Insert, ID: ID{strings.Repeat("r", MaxReplicaBytes+1), 1}, Side: Left, Char: 'a'},
	}
	for _, op := range bad {
		if err := d.Apply(op); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", op, err)
		}
	}
	if err := d.Apply(Op{Kind: Insert, ID: ID{"x", 1}, Side: Left, Char: 'a'}); err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(Op{Kind: Insert, ID: ID{"x", 1}, Side: Left, Char: 'b'}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an ID reused for another character: %v", err)
	}
}

func TestEncodingsRoundTrip(t *testing.T) {
	ok := mustOps(t)
	a, b := New("alpha"), New("beta")
	ops := ok(a.Insert(0, "héllo wörld ✓"))
	ops = append(ops, ok(a.Delete(2, 3))...)
	got, err := DecodeOps(EncodeOps(ops))
	if err != nil || !slices.Equal(got, ops) {
		t.Fatalf("ops round trip: %v\n%v\n%v", err, got, ops)
	}
	// A state with a held op: b has seen a delete whose target it lacks.
	if err := b.Apply(ops[len(ops)-1]); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(ops[:2]...); err != nil {
		t.Fatal(err)
	}
	state, _ := b.MarshalBinary()
	c, err := Load("beta", state)
	if err != nil {
		t.Fatal(err)
	}
	if c.String() != b.String() || c.Held() != b.Held() || c.Held() != 1 {
		t.Fatalf("state round trip: %q/%d vs %q/%d", c.String(), c.Held(), b.String(), b.Held())
	}
	again, _ := c.MarshalBinary()
	if !bytes.Equal(again, state) {
		t.Fatal("equal fields must have equal states")
	}
	if err := c.Apply(ops...); err != nil || c.String() != a.String() {
		t.Fatalf("after load: %q vs %q (%v)", c.String(), a.String(), err)
	}
	// The loaded replica resumes its own counter.
	own := ok(c.Insert(0, "x"))
	if own[0].ID.Seq != 1 {
		t.Fatalf("beta's first own id %v", own[0].ID)
	}
	st, _ := c.MarshalBinary()
	d, err := Load("beta", st)
	if err != nil {
		t.Fatal(err)
	}
	if next := ok(d.Insert(0, "y")); next[0].ID.Seq != 2 {
		t.Fatalf("beta reused an id after loading: %v", next[0].ID)
	}
}

func TestHostileEncodingsAreRefused(t *testing.T) {
	cases := map[string][]byte{
		"empty":           {},
		"wrong format":    {9, 0, 0},
		"huge count":      {formatOps, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad index":       {formatOps, 0, 1, byte(Delete), 5, 1},
		"trailing":        append(EncodeOps(nil), 0),
		"empty name":      {formatOps, 1, 0, 0},
		"bad flags":       {formatOps, 1, 1, 'a', 1, byte(Insert), 1, 1, 0x0b, 0, 'x'},
		"deleted w/ char": {formatOps, 1, 1, 'a', 1, byte(Insert), 1, 1, byte(Left) | deletedFlag, 0, 'x'},
	}
	for name, b := range cases {
		if _, err := DecodeOps(b); err == nil {
			t.Errorf("%s: DecodeOps accepted %v", name, b)
		}
		if _, err := Load("r", b); err == nil && name != "empty" {
			t.Errorf("%s: Load accepted %v", name, b)
		}
	}
}

// The property: replicas and the server, editing one field offline and
// online in random schedules, end with the same text, holding exactly
// the characters typed and not deleted by anyone.

type replica struct {
	doc    *Doc
	outbox []Op
	cursor int
}

type world struct {
	rng      *rand.Rand
	server   *Doc
	log      []Op
	replicas []*replica
	typed    map[ID]bool // every character inserted
	deleted  map[ID]bool // every character deleted
}

var alphabet = []rune("abcdefgh é✓\n")

func (w *world) randomText(n int) string {
	var b strings.Builder
	for range n {
		b.WriteRune(alphabet[w.rng.IntN(len(alphabet))])
	}
	return b.String()
}

func (w *world) record(ops []Op) {
	for _, op := range ops {
		if op.Kind == Insert {
			w.typed[op.ID] = true
		} else {
			w.deleted[op.ID] = true
		}
	}
}

// edit makes one random local edit on d.
func (w *world) edit(t *testing.T, d *Doc) []Op {
	var ops []Op
	var err error
	switch k := w.rng.IntN(10); {
	case k < 5 || d.Len() == 0:
		ops, err = d.Insert(w.rng.IntN(d.Len()+1), w.randomText(1+w.rng.IntN(4)))
	case k < 8:
		pos := w.rng.IntN(d.Len())
		ops, err = d.Delete(pos, 1+w.rng.IntN(min(3, d.Len()-pos)))
	default:
		// A whole-value UPDATE: cut a piece, add another elsewhere.
		r := []rune(d.String())
		cut := w.rng.IntN(len(r) + 1)
		r = slices.Delete(r, cut, min(len(r), cut+w.rng.IntN(3)))
		at := w.rng.IntN(len(r) + 1)
		r = slices.Insert(r, at, []rune(w.randomText(w.rng.IntN(4)))...)
		ops, err = d.SetText(string(r))
	}
	if err != nil {
		t.Fatal(err)
	}
	w.record(ops)
	return ops
}

func (w *world) push(t *testing.T, r *replica) {
	if len(r.outbox) == 0 {
		return
	}
	// Through the wire form, as a push does.
	ops, err := DecodeOps(EncodeOps(r.outbox))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.server.Apply(ops...); err != nil {
		t.Fatal(err)
	}
	w.log = append(w.log, ops...)
	r.outbox = nil
}

func (w *world) pull(t *testing.T, r *replica) {
	news := w.log[r.cursor:]
	if w.rng.IntN(4) == 0 {
		// Now and then out of order: the doc must hold and release.
		news = slices.Clone(news)
		w.rng.Shuffle(len(news), func(i, j int) { news[i], news[j] = news[j], news[i] })
	}
	if err := r.doc.Apply(news...); err != nil {
		t.Fatal(err)
	}
	r.cursor = len(w.log)
}

func runSchedule(t *testing.T, seed uint64) {
	w := &world{
		rng:    rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		server: New("server"),
		typed:  map[ID]bool{}, deleted: map[ID]bool{},
	}
	n := 3 + w.rng.IntN(3)
	for i := range n {
		w.replicas = append(w.replicas, &replica{doc: New(string(rune('a' + i)))})
	}
	steps := 10 + w.rng.IntN(50)
	for range steps {
		switch k := w.rng.IntN(20); {
		case k < 8:
			r := w.replicas[w.rng.IntN(n)]
			r.outbox = append(r.outbox, w.edit(t, r.doc)...)
		case k < 12:
			w.push(t, w.replicas[w.rng.IntN(n)])
		case k < 17:
			w.pull(t, w.replicas[w.rng.IntN(n)])
		case k < 18:
			// The app's backend writes the value on the server.
			w.log = append(w.log, w.edit(t, w.server)...)
		default:
			// A replica restarts: its state through its stored form.
			r := w.replicas[w.rng.IntN(n)]
			st, _ := r.doc.MarshalBinary()
			d, err := Load(r.doc.Replica(), st)
			if err != nil {
				t.Fatal(err)
			}
			r.doc = d
		}
	}
	for _, r := range w.replicas {
		w.push(t, r)
	}
	for _, r := range w.replicas {
		w.pull(t, r)
		if r.doc.Held() != 0 {
			// A shuffled pull may leave ops held until a later one;
			// the final pull in log order releases every one.
			t.Fatalf("seed %d: %s holds %d ops after the last pull", seed, r.doc.Replica(), r.doc.Held())
		}
	}
	// A device joining now loads the server's state.
	st, _ := w.server.MarshalBinary()
	late, err := Load("late", st)
	if err != nil {
		t.Fatal(err)
	}
	want := w.server.String()
	for _, r := range w.replicas {
		if got := r.doc.String(); got != want {
			t.Fatalf("seed %d: %s reads %q, the server %q", seed, r.doc.Replica(), got, want)
		}
	}
	if late.String() != want {
		t.Fatalf("seed %d: a device loading the server's state reads %q, want %q", seed, late.String(), want)
	}
	for _, id := range w.server.IDs() {
		if !w.typed[id] || w.deleted[id] {
			t.Fatalf("seed %d: %v is visible but was deleted or never typed", seed, id)
		}
	}
	for id := range w.typed {
		if !w.deleted[id] && !w.server.Visible(id) {
			t.Fatalf("seed %d: %v was typed, never deleted, and is gone", seed, id)
		}
	}
}

// TestRandomSchedulesConverge runs 10,000 schedules of 3–5 replicas and
// the server (seeds 0–9,999: the same every run).
func TestRandomSchedulesConverge(t *testing.T) {
	schedules := 10000
	if testing.Short() {
		schedules = 1000
	}
	for seed := range uint64(schedules) {
		runSchedule(t, seed)
	}
}

// TestWholeStatesMerge: two copies that diverged offline, deletes
// included, each take the other's whole state and read the same.
func TestWholeStatesMerge(t *testing.T) {
	ok := mustOps(t)
	a, b := New("a"), New("b")
	if err := b.Apply(ok(a.Insert(0, "shared base text"))...); err != nil {
		t.Fatal(err)
	}
	ok(a.Delete(0, 7))
	ok(a.Insert(0, "A's "))
	ok(b.Delete(12, 4))
	ok(b.Insert(b.Len(), "words"))
	sa, sb := a.State(), b.State()
	if err := a.Apply(sb...); err != nil {
		t.Fatal(err)
	}
	if err := b.Apply(sa...); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() || a.String() != "A's base words" {
		t.Fatalf("got %q and %q", a.String(), b.String())
	}
}

// TestAFieldIsBounded: a field refuses to hold more than MaxNodes
// characters (deleted ones included) with TEXT_TOO_LARGE, locally and
// from a peer, and a state near the bound stays under the server's
// 1 MiB value cap.
func TestAFieldIsBounded(t *testing.T) {
	d := New("a")
	big := strings.Repeat("é", MaxNodes-10)
	ops, err := d.Insert(0, big)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Insert(0, strings.Repeat("x", 11)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("past the bound: %v", err)
	}
	if _, err := d.SetText(big + strings.Repeat("y", 11)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("SetText past the bound: %v", err)
	}
	if st, _ := d.MarshalBinary(); len(st) > 1<<20 {
		t.Fatalf("a full field's state is %d bytes", len(st))
	}
	peer := New("b")
	if err := peer.Apply(ops...); err != nil {
		t.Fatal(err)
	}
	more, _ := New("c").Insert(0, strings.Repeat("z", 11))
	if err := peer.Apply(more...); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("a peer's ops past the bound: %v", err)
	}
}
