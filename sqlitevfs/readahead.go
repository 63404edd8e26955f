package sqlitevfs

import (
	"errors"
	"io"
)

// maxReadAheadBytes bounds what a readAheadFile keeps: a WAL at SQLite's
// automatic checkpoint (1,000 pages of 4 KiB, with frame headers) and
// then some.
const maxReadAheadBytes = 8 << 20

// readAheadFile serves reads from whole blocks of the file, each read from
// the store once, until the file is next written or truncated. SQLite reads
// a WAL one page per call: when it recovers the WAL on open (every valid
// frame, in order) and when it checkpoints it (every frame, by page
// number). Where each store call is costly, a block read serves many of
// those: Chromium's OPFS in an incognito window is kept in memory in the
// browser process, and a sync access handle call there costs ~0.6 ms
// (0.005 ms on disk), so a 760-frame checkpoint spent 0.3–0.75 s in reads.
//
// It must sit below a coalescedFile, whose buffered writes reach it (and
// drop its blocks) before any read that overlaps them.
type readAheadFile struct {
	StoredFile
	block  int
	blocks map[int64][]byte // by index; one shorter than block ends the file
}

func newReadAheadFile(f StoredFile, block int) *readAheadFile {
	return &readAheadFile{StoredFile: f, block: block, blocks: map[int64][]byte{}}
}

func (r *readAheadFile) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) {
		at := off + int64(n)
		index := at / int64(r.block)
		b, ok := r.blocks[index]
		if !ok {
			if (len(r.blocks)+1)*r.block > maxReadAheadBytes {
				clear(r.blocks)
			}
			buf := make([]byte, r.block)
			m, err := r.StoredFile.ReadAt(buf, index*int64(r.block))
			if err != nil && !errors.Is(err, io.EOF) {
				return n, err
			}
			b = buf[:m]
			r.blocks[index] = b
		}
		within := int(at - index*int64(r.block))
		if within >= len(b) {
			return n, io.EOF
		}
		n += copy(p[n:], b[within:])
		if len(b) < r.block && n < len(p) {
			return n, io.EOF // the file ends in this block
		}
	}
	return n, nil
}

func (r *readAheadFile) WriteAt(p []byte, off int64) (int, error) {
	clear(r.blocks)
	return r.StoredFile.WriteAt(p, off)
}

func (r *readAheadFile) Truncate(size int64) error {
	clear(r.blocks)
	return r.StoredFile.Truncate(size)
}

func (r *readAheadFile) Close() error {
	clear(r.blocks)
	return r.StoredFile.Close()
}
