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

// Open is a field as an edit made as replica finds it, and the ops that
// must travel before the edit's own: a field with a stored state (its
// binary form, as Load takes it) is that state, with none to send; one
// without starts from text, the plain text it holds (FromText). Every
// writer of a field (the replica's journal, the server turning a
// backend's or another program's text into ops) starts it so.
func Open(replica string, state []byte, text string) (*Doc, []Op, error) {
	if len(state) == 0 {
		return FromText(replica, text)
	}
	d, err := Load(replica, state)
	return d, nil, err
}
