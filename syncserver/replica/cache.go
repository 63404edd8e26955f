package replica

import (
	"os"
	"sync"
	"time"
)

// DefaultCacheBytes bounds the files a Handler keeps (Config.CacheBytes).
const DefaultCacheBytes = 1 << 30

// cacheIdle drops a kept file nobody asked for in this long: the next
// request for it builds from scratch.
const cacheIdle = 24 * time.Hour

// cache keeps the last file built for each caller key and layout, so that
// the next new device of the same identity begins from it: sent as it is
// while the server's log has not moved past its cursor, else continued
// (it pulls only the log written since) instead of built from every row.
// A build takes a kept file over (out of the cache) only while no
// request is reading it, and continues a copy otherwise; a file replaced
// or dropped stays readable to a request that opened it (its handle
// keeps it).
type cache struct {
	max int64 // bytes; 0 keeps nothing
	now func() time.Time

	mu      sync.Mutex
	total   int64
	entries map[string]*cached
}

type cached struct {
	path   string
	size   int64 // of the file and its compressed copy
	cursor int64
	rows   int64
	// gz is the file gzip-compressed as the endpoint sends it ("" until
	// a response has written it whole), gzSize its size.
	gz     string
	gzSize int64
	used   time.Time
	// readers are the requests sending it (read).
	readers int
}

// read returns what is kept for key, marking it used, for a request that
// sends the file: until done is called (once or more), a build continues
// a copy of it rather than the file.
func (c *cache) read(key string) (f cached, done func(), ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil {
		return cached{}, func() {}, false
	}
	e.used = c.now()
	e.readers++
	ended := false
	return *e, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if !ended {
			ended = true
			e.readers--
		}
	}, true
}

// continueFrom is the file a build for key continues: the kept one,
// taken out of the cache (its compressed copy removed: the build changes
// it), when no request is reading it; else a copy made by copyFile, or
// "" when nothing is kept or the copy failed.
func (c *cache) continueFrom(key string, copyFile func(path string) string) string {
	c.mu.Lock()
	e := c.entries[key]
	if e == nil {
		c.mu.Unlock()
		return ""
	}
	if e.readers > 0 {
		path := e.path
		c.mu.Unlock()
		return copyFile(path)
	}
	delete(c.entries, key)
	c.total -= e.size
	c.mu.Unlock()
	if e.gz != "" {
		os.Remove(e.gz)
	}
	return e.path
}

// peek is the path kept for key ("" when none).
func (c *cache) peek(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[key]; e != nil {
		return e.path
	}
	return ""
}

// setGz records gz as the compressed copy of the file kept for key at
// path, or removes it when that file is no longer kept, already has one,
// or the copy would not fit.
func (c *cache) setGz(key, path string, gz compressed) {
	if gz.path == "" {
		return
	}
	c.mu.Lock()
	e := c.entries[key]
	if e == nil || e.path != path || e.gz != "" || c.total+gz.size > c.max {
		c.mu.Unlock()
		os.Remove(gz.path)
		return
	}
	e.gz, e.gzSize = gz.path, gz.size
	e.size += gz.size
	c.total += gz.size
	c.mu.Unlock()
}

// put keeps f for key, replacing what was kept, then drops the files
// least recently used (and those idle past cacheIdle) until the kept
// files fit. A file that is larger than the whole bound is not kept.
func (c *cache) put(key string, f File) {
	c.mu.Lock()
	var drop []string
	if old := c.entries[key]; old != nil {
		drop = append(drop, old.files()...)
		c.total -= old.size
		delete(c.entries, key)
	}
	now := c.now()
	if f.Size <= c.max {
		c.entries[key] = &cached{path: f.Path, size: f.Size, cursor: f.Cursor, rows: f.Rows, used: now}
		c.total += f.Size
	} else {
		drop = append(drop, f.Path)
	}
	for {
		k := c.idle(now)
		if k == "" {
			if c.total <= c.max {
				break
			}
			k = c.oldest()
		}
		e := c.entries[k]
		drop = append(drop, e.files()...)
		c.total -= e.size
		delete(c.entries, k)
	}
	c.mu.Unlock()
	for _, p := range drop {
		os.Remove(p)
	}
}

// files are the entry's file and its compressed copy.
func (e *cached) files() []string {
	if e.gz == "" {
		return []string{e.path}
	}
	return []string{e.path, e.gz}
}

func (c *cache) idle(now time.Time) string {
	for k, e := range c.entries {
		if now.Sub(e.used) > cacheIdle {
			return k
		}
	}
	return ""
}

func (c *cache) oldest() string {
	var key string
	var at time.Time
	for k, e := range c.entries {
		if key == "" || e.used.Before(at) {
			key, at = k, e.used
		}
	}
	return key
}

// clear removes every kept file.
func (c *cache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		for _, p := range e.files() {
			os.Remove(p)
		}
		delete(c.entries, k)
	}
	c.total = 0
}
