package sqlitevfs

import (
	"fmt"
	"io"
)

// coalescedFile gathers consecutive writes into one store write. SQLite
// writes a WAL frame as two calls (a 24-byte header, then the page) and a
// commit as a run of frames, each of which costs a call into the browser
// (OPFS) when written one by one; gathered, a transaction's frames reach
// the store in a few large writes.
//
// The buffer is written out before anything that could observe the file
// (a read overlapping it, Size, Truncate), before Flush (SQLite's sync, so
// a synced commit is in the store and a failed write — quota — fails the
// commit), before a write it cannot extend, and on Close. Use it only when
// SQLite syncs every commit (synchronous=FULL): with NORMAL a commit would
// be acknowledged while its frames still sit in memory.
type coalescedFile struct {
	StoredFile
	max int
	buf []byte
	off int64
}

func newCoalescedFile(f StoredFile, max int) *coalescedFile {
	return &coalescedFile{StoredFile: f, max: max}
}

// writeOut writes the buffer to the store.
func (c *coalescedFile) writeOut() error {
	if len(c.buf) == 0 {
		return nil
	}
	n, err := c.StoredFile.WriteAt(c.buf, c.off)
	if err == nil && n < len(c.buf) {
		err = fmt.Errorf("wrote %d of %d bytes: %w", n, len(c.buf), io.ErrShortWrite)
	}
	c.buf = c.buf[:0]
	return err
}

func (c *coalescedFile) WriteAt(p []byte, off int64) (int, error) {
	if len(c.buf) > 0 && off == c.off+int64(len(c.buf)) && len(c.buf)+len(p) <= c.max {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if err := c.writeOut(); err != nil {
		return 0, err
	}
	if len(p) >= c.max {
		return c.StoredFile.WriteAt(p, off)
	}
	c.buf = append(c.buf[:0], p...)
	c.off = off
	return len(p), nil
}

func (c *coalescedFile) ReadAt(p []byte, off int64) (int, error) {
	if len(c.buf) > 0 && off < c.off+int64(len(c.buf)) && c.off < off+int64(len(p)) {
		if err := c.writeOut(); err != nil {
			return 0, err
		}
	}
	return c.StoredFile.ReadAt(p, off)
}

func (c *coalescedFile) Size() (int64, error) {
	if err := c.writeOut(); err != nil {
		return 0, err
	}
	return c.StoredFile.Size()
}

func (c *coalescedFile) Truncate(size int64) error {
	if err := c.writeOut(); err != nil {
		return err
	}
	return c.StoredFile.Truncate(size)
}

func (c *coalescedFile) Flush() error {
	if err := c.writeOut(); err != nil {
		return err
	}
	return c.StoredFile.Flush()
}

func (c *coalescedFile) Close() error {
	err := c.writeOut()
	if cerr := c.StoredFile.Close(); err == nil {
		err = cerr
	}
	return err
}
