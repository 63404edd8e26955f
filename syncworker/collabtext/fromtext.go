package collabtext

import (
	"crypto/sha256"
	"encoding/hex"
)

// baseReplicaPrefix starts the replica name of a text's base characters
// (FromText). Replicas are named by client ids, which never start so.
const baseReplicaPrefix = "="

// FromText is a field that reads text but has no collaborative state yet
// (a row written before its table was synced, a column declared
// collaborative after it held text): a Doc edited as replica that holds
// text's characters, and the ops that create them, which must travel
// with the first edit made on top of them.
//
// The characters' IDs depend on the text alone: they are named by a
// replica derived from a hash of it, numbered from 1 in order, each hung
// right of the one before. So every replica that starts the same field
// from the same text creates the very same characters, and their ops
// merge into one copy of the text, whichever arrives first, with every
// replica's edits on top. Naming them as the local replica instead would
// give each replica its own copy (the text read twice after a merge) and
// reuse the IDs that replica numbers its own typing with. Replicas that
// start from different texts get different names, so their characters
// never clash: both texts are kept, and nothing is refused.
func FromText(replica, text string) (*Doc, []Op, error) {
	sum := sha256.Sum256([]byte(text))
	d := New(baseReplicaPrefix + hex.EncodeToString(sum[:16]))
	ops, err := d.SetText(text)
	if err != nil {
		return nil, nil, err
	}
	d.replica, d.seq = replica, 0
	return d, ops, nil
}
