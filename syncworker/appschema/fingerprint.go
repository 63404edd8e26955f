package appschema

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// Fingerprint names an app's schema as a device would build it: its
// migrations (versions and SQL, byte for byte) and its synced tables
// (names, resurrect, text columns), in order. Two sides that compute the
// same fingerprint build the same tables and triggers; a replica file
// built by the server (syncserver/replica) is used only by a device whose
// fingerprint is the server's.
func Fingerprint(migrations []Migration, tables []Table) string {
	h := sha256.New()
	var n [binary.MaxVarintLen64]byte
	num := func(v int64) { h.Write(n[:binary.PutVarint(n[:], v)]) }
	text := func(s string) { num(int64(len(s))); h.Write([]byte(s)) }
	text("hearth-schema-1")
	num(int64(len(migrations)))
	for _, m := range migrations {
		num(m.Version)
		text(m.SQL)
	}
	num(int64(len(tables)))
	for _, t := range tables {
		text(t.Name)
		if t.Resurrect {
			num(1)
		} else {
			num(0)
		}
		num(int64(len(t.Text)))
		for _, c := range t.Text {
			text(c)
		}
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
