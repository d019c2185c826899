package store

import "sync"

// intentRow is an intent as stored: its columns, with the collections still encoded as JSON.
// parent and policy are empty when the intent has none.
type intentRow struct {
	id, title, description, createdBy string
	parent                            string
	deps, constraints, state          string
	status                            string
	confidence                        float64
	version                           int64
	policy                            string
	createdAt, updatedAt              int64
}

// size is roughly how many bytes the row holds.
func (r *intentRow) size() int {
	return 160 + len(r.id) + len(r.title) + len(r.description) + len(r.createdBy) + len(r.parent) +
		len(r.deps) + len(r.constraints) + len(r.state) + len(r.status) + len(r.policy)
}

// Limits of the intent cache.
const (
	intentCacheRows  = 8192
	intentCacheBytes = 16 << 20
)

// intentCache holds the committed rows of recently written or read intents, so that reading an
// intent, alone or inside a read-check-write, costs no query. Rows are immutable once cached;
// every reader decodes a copy of its own. Writes go through one transaction at a time: a write
// transaction collects the rows it writes and publishes them after its commit.
//
// A reader that missed fills the cache with the row it read from the database only if no write
// was published since it started (gen), so a row read before a commit never hides that commit.
type intentCache struct {
	mu    sync.Mutex
	rows  map[string]*intentRow
	bytes int
	gen   uint64
}

func (c *intentCache) get(id string) (*intentRow, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rows[id], c.gen
}

// fill caches a row read from the database by a reader that started at generation gen.
func (c *intentCache) fill(r *intentRow, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.put(r)
	}
}

// publish caches the rows a transaction committed.
func (c *intentCache) publish(rows map[string]*intentRow) {
	if len(rows) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for _, r := range rows {
		c.put(r)
	}
}

func (c *intentCache) put(r *intentRow) {
	if c.rows == nil {
		c.rows = map[string]*intentRow{}
	}
	if old, ok := c.rows[r.id]; ok {
		c.bytes -= old.size()
		delete(c.rows, r.id)
	}
	n := r.size()
	if n > intentCacheBytes/16 {
		return // a huge intent would push out many others
	}
	for id, old := range c.rows { // evicts arbitrary rows (map order)
		if len(c.rows) < intentCacheRows && c.bytes+n <= intentCacheBytes {
			break
		}
		c.bytes -= old.size()
		delete(c.rows, id)
	}
	c.rows[r.id] = r
	c.bytes += n
}
