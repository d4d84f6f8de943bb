package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// StoreMemory is the Store of a node on the in-memory backend: its sessions and
// mailboxes live in its own process, so it cannot share a cluster with anyone.
const StoreMemory = "memory"

// NodeMeta is what this node tells the others about itself (memberlist node metadata,
// at most 512 bytes encoded).
type NodeMeta struct {
	// APIAddr is the node's HTTP address (push API, socket.io).
	APIAddr string `json:"api,omitempty"`
	// PeerAddr is where other nodes open delivery links to this one.
	PeerAddr string `json:"peer,omitempty"`
	// Started is the process start time in unix ms. It is this node's incarnation: a
	// node restarted under the same id has a new Started, so the others can tell its
	// sessions from those of the process that died. Zero: New fills in the current time.
	Started int64 `json:"started"`
	// Store names the shared state backend: nodes cluster only when their Store is the
	// same and is not StoreMemory. Put something that identifies the backend without
	// leaking it, e.g. "redis:" + a hash of the URL. Empty means StoreMemory.
	Store string `json:"store,omitempty"`
}

func (m NodeMeta) withDefaults() NodeMeta {
	if m.Store == "" {
		m.Store = StoreMemory
	}
	if m.Started == 0 {
		m.Started = time.Now().UnixMilli()
	}
	return m
}

func (m NodeMeta) encode() ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("cluster: encode node metadata: %w", err)
	}
	return b, nil
}

func decodeMeta(b []byte) (NodeMeta, error) {
	var m NodeMeta
	if len(b) == 0 {
		return m, errors.New("no metadata")
	}
	err := json.Unmarshal(b, &m)
	return m, err
}

// Errors that refuse a peer. New returns them wrapped (test with errors.Is) when every
// seed was refused for that reason.
var (
	// ErrStoreMismatch: the peer does not share this node's state backend, or both use
	// the in-memory one.
	ErrStoreMismatch = errors.New("cluster: nodes do not share a state store")
	// ErrDuplicateID: a live node already uses this NodeID at another address.
	ErrDuplicateID = errors.New("cluster: node id already in use")
	// ErrSecretMismatch: the seeds' gossip could not be decrypted, or they could not
	// decrypt ours: the nodes do not share the same Secret.
	ErrSecretMismatch = errors.New("cluster: seeds use another cluster secret")
)

// compatible says why a peer with metadata peer may not share a cluster with a node
// whose metadata is self, or nil when it may.
func compatible(self NodeMeta, peerID string, peer NodeMeta) error {
	peer = peer.normalStore()
	switch {
	case self.Store == StoreMemory && peer.Store == StoreMemory:
		return fmt.Errorf("%w: this node and node %q both use the in-memory store, which is not shared between processes; give every node the same --redis to form a cluster", ErrStoreMismatch, peerID)
	case self.Store == StoreMemory:
		return fmt.Errorf("%w: this node uses the in-memory store and node %q uses %q; give every node the same --redis", ErrStoreMismatch, peerID, peer.Store)
	case peer.Store == StoreMemory:
		return fmt.Errorf("%w: node %q uses the in-memory store and this node uses %q; give every node the same --redis", ErrStoreMismatch, peerID, self.Store)
	case self.Store != peer.Store:
		return fmt.Errorf("%w: node %q uses store %q and this node uses %q; give every node the same --redis", ErrStoreMismatch, peerID, peer.Store, self.Store)
	}
	return nil
}

func (m NodeMeta) normalStore() NodeMeta {
	if m.Store == "" {
		m.Store = StoreMemory
	}
	return m
}

// State of a member as /v1/cluster shows it.
type State string

const (
	StateAlive   State = "alive"
	StateSuspect State = "suspect" // failed a probe of this node; dead unless it refutes soon
	StateDead    State = "dead"    // declared failed by memberlist
	StateLeft    State = "left"    // left gracefully
)

// Member is one node as this node sees it.
type Member struct {
	ID       string
	Addr     string // gossip address, ip:port
	APIAddr  string
	PeerAddr string
	Store    string
	Started  int64 // unix ms; the incarnation (see NodeMeta.Started)
	State    State
	Since    time.Time // when State last changed, as seen here
}
