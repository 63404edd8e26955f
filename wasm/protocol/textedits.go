package protocol

import (
	"math"

	"github.com/hearthdb/hearth/codec"
	"github.com/hearthdb/hearth/syncworker/collabtext"
)

// TextEdits reads editText's ops field: at most collabtext.MaxEdits maps,
// each {at, insert} or {at, delete} with nothing else.
func TextEdits(v any) ([]collabtext.Edit, *Error) {
	list, ok := v.([]any)
	if !ok {
		return nil, Errorf(CodeBadRequest, "op \"editText\" needs array field \"ops\" of {at, insert} or {at, delete}, got %s", codec.TypeName(v))
	}
	if len(list) > collabtext.MaxEdits {
		return nil, Errorf(CodeTextTooLarge, "editText takes at most %d ops, got %d", collabtext.MaxEdits, len(list))
	}
	edits := make([]collabtext.Edit, len(list))
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			return nil, Errorf(CodeBadRequest, "ops[%d] must be {at, insert} or {at, delete}, got %s", i, codec.TypeName(item))
		}
		at, ok := m["at"].(int64)
		if !ok {
			return nil, Errorf(CodeBadRequest, "ops[%d].at must be an integer (a position in code points), got %s", i, codec.TypeName(m["at"]))
		}
		if at < 0 || at > math.MaxInt32 {
			return nil, Errorf(CodeTextOpOutOfRange, "ops[%d].at is %d, outside any text", i, at)
		}
		edits[i].At = int(at)
		insert, hasInsert := m["insert"]
		del, hasDelete := m["delete"]
		if hasInsert == hasDelete || len(m) != 2 {
			return nil, Errorf(CodeBadRequest, "ops[%d] must have exactly the fields at and either insert or delete", i)
		}
		if hasInsert {
			if edits[i].Insert, ok = insert.(string); !ok {
				return nil, Errorf(CodeBadRequest, "ops[%d].insert must be text, got %s", i, codec.TypeName(insert))
			}
			continue
		}
		n, ok := del.(int64)
		if !ok || n < 0 {
			return nil, Errorf(CodeBadRequest, "ops[%d].delete must be a count of characters (an integer ≥ 0), got %v", i, del)
		}
		if n > math.MaxInt32 {
			return nil, Errorf(CodeTextOpOutOfRange, "ops[%d] deletes %d characters, more than any text holds", i, n)
		}
		edits[i].Delete = int(n)
	}
	return edits, nil
}
