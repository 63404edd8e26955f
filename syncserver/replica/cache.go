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
// the next new device of the same identity begins from it: the build
// then pulls only the log written since, instead of every row. A file is
// taken out while a build uses it (so eviction never removes a file in
// use) and put back, at its new cursor, once it has been sent.
type cache struct {
	max int64 // bytes; 0 keeps nothing
	now func() time.Time

	mu      sync.Mutex
	total   int64
	entries map[string]*cached
}

type cached struct {
	path string
	size int64
	used time.Time
}

// take removes and returns the file kept for key ("" when none).
func (c *cache) take(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil {
		return ""
	}
	delete(c.entries, key)
	c.total -= e.size
	return e.path
}

// peek is the path kept for key ("" when none), left kept.
func (c *cache) peek(key string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[key]; e != nil {
		return e.path
	}
	return ""
}

// put keeps f for key, replacing what was kept, then drops the files
// least recently used (and those idle past cacheIdle) until the kept
// files fit. A file that is larger than the whole bound is not kept.
func (c *cache) put(key string, f File) {
	c.mu.Lock()
	var drop []string
	if old := c.entries[key]; old != nil {
		drop = append(drop, old.path)
		c.total -= old.size
		delete(c.entries, key)
	}
	now := c.now()
	if f.Size <= c.max {
		c.entries[key] = &cached{path: f.Path, size: f.Size, used: now}
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
		drop = append(drop, e.path)
		c.total -= e.size
		delete(c.entries, k)
	}
	c.mu.Unlock()
	for _, p := range drop {
		os.Remove(p)
	}
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
		os.Remove(e.path)
		delete(c.entries, k)
	}
	c.total = 0
}
