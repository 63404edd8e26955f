package protocol

import (
	"testing"

	"github.com/hearthdb/hearth/codec"
)

func TestParseRequest(t *testing.T) {
	for _, tc := range []struct {
		msg   any
		hasID bool
		code  string
	}{
		{map[string]any{"v": int64(1), "id": int64(1), "op": "open"}, true, ""},
		{map[string]any{"v": int64(1), "id": int64(1), "op": "exec"}, true, CodeBadRequest},
		{map[string]any{"v": int64(2), "id": int64(1), "op": "open"}, true, CodeBadRequest},
		{map[string]any{"v": int64(1), "op": "open"}, false, CodeBadRequest},
		{map[string]any{"v": int64(1), "id": "1", "op": "open"}, false, CodeBadRequest},
		{map[string]any{"v": int64(1), "id": int64(1), "op": "begin"}, true, CodeBadRequest},
		{map[string]any{"v": int64(1), "id": int64(1), "op": "begin", "db": int64(1), "timeoutMs": int64(5000)}, true, ""},
		{map[string]any{"v": int64(1), "id": int64(1), "op": "commit", "db": int64(1), "tx": int64(7)}, true, ""},
		{[]any{int64(1)}, false, CodeBadRequest},
	} {
		msg, _ := codec.Encode(tc.msg)
		_, hasID, err := ParseRequest(msg)
		code := ""
		if err != nil {
			code = err.Code
		}
		if hasID != tc.hasID || code != tc.code {
			t.Errorf("%v: hasID=%v code=%q, want %v %q", tc.msg, hasID, code, tc.hasID, tc.code)
		}
	}
}
