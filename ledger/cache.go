package ledger

import (
	"sync"

	"github.com/transparency-dev/merkle/compact"
)

// maxCachedNodes bounds the node cache (about 13 MiB); when full it is emptied and refills
// with what proofs use, which is mostly the right edge of the tree and a few high nodes.
const maxCachedNodes = 1 << 17

// nodeCache keeps tree nodes that proofs read again and again. Nodes are immutable once
// committed, so the cache never needs invalidating; only committed nodes are added.
type nodeCache struct {
	mu    sync.RWMutex
	nodes map[compact.NodeID][]byte
}

func newNodeCache() *nodeCache { return &nodeCache{nodes: make(map[compact.NodeID][]byte)} }

func (c *nodeCache) get(id compact.NodeID) ([]byte, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	h, ok := c.nodes[id]
	return h, ok
}

func (c *nodeCache) put(ids []compact.NodeID, hashes [][]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.nodes)+len(ids) > maxCachedNodes {
		clear(c.nodes)
	}
	for i, id := range ids {
		c.nodes[id] = hashes[i]
	}
}
