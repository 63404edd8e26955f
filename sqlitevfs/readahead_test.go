package sqlitevfs

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// TestReadAheadReadsWhatTheFileHolds: through any mix of writes, truncates
// and reads, a read-ahead file reads exactly what the file itself holds,
// and reads within blocks already read cost no store call.
func TestReadAheadReadsWhatTheFileHolds(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		store := NewMemoryFileStore()
		plain, err := store.OpenFile("plain", true)
		if err != nil {
			t.Fatal(err)
		}
		backing, err := store.OpenFile("ahead", true)
		if err != nil {
			t.Fatal(err)
		}
		const block = 256
		ahead := newReadAheadFile(backing, block)
		rng := rand.New(rand.NewPCG(seed, 7))
		for step := range 400 {
			off := rng.Int64N(8 * block)
			n := 1 + rng.IntN(2*block)
			switch op := rng.IntN(10); {
			case op < 3:
				data := make([]byte, n)
				for i := range data {
					data[i] = byte(rng.Uint32())
				}
				for _, f := range []StoredFile{plain, ahead} {
					if _, err := f.WriteAt(data, off); err != nil {
						t.Fatal(err)
					}
				}
			case op < 4:
				for _, f := range []StoredFile{plain, ahead} {
					if err := f.Truncate(off); err != nil {
						t.Fatal(err)
					}
				}
			default:
				want := make([]byte, n)
				wn, werr := plain.ReadAt(want, off)
				got := make([]byte, n)
				gn, gerr := ahead.ReadAt(got, off)
				if gn != wn || !bytes.Equal(got[:gn], want[:wn]) || errors.Is(gerr, io.EOF) != errors.Is(werr, io.EOF) || (gerr == nil) != (werr == nil) {
					t.Fatalf("seed %d step %d: read %d at %d: got %d bytes (%v), want %d (%v)", seed, step, n, off, gn, gerr, wn, werr)
				}
			}
		}
	}

	// A WAL read page by page, as a checkpoint does: one store call per
	// block, not per page.
	store := NewMemoryFileStore()
	backing, err := store.OpenFile("wal", true)
	if err != nil {
		t.Fatal(err)
	}
	const frame, frames = 24 + 4096, 100
	if _, err := backing.WriteAt(make([]byte, 32+frame*frames), 0); err != nil {
		t.Fatal(err)
	}
	ahead := newReadAheadFile(backing, 64<<10)
	before := store.Calls()
	page := make([]byte, 4096)
	for i := range frames {
		if _, err := ahead.ReadAt(page, int64(32+(i*37%frames)*frame+24)); err != nil {
			t.Fatal(err)
		}
	}
	if calls, want := store.Calls()-before, int64((32+frame*frames)/(64<<10)+1); calls != want {
		t.Errorf("%d store calls for %d page reads, want %d (one a block)", calls, frames, want)
	}
}
