package appschema

import "testing"

func TestFingerprintChangesWithEveryPartOfTheSchema(t *testing.T) {
	base := func() ([]Migration, []Table) {
		return []Migration{{1, "CREATE TABLE a(id TEXT PRIMARY KEY, body TEXT NOT NULL)"}, {2, "CREATE INDEX a_body ON a(body)"}},
			[]Table{{Name: "a", Text: []string{"body"}}, {Name: "b"}}
	}
	m, tb := base()
	want := Fingerprint(m, tb)
	if got := Fingerprint(base()); got != want {
		t.Fatalf("the same schema fingerprints differently: %s, %s", got, want)
	}
	if len(want) != 32 {
		t.Fatalf("fingerprint %q: want 32 hex digits", want)
	}
	changes := map[string]func(m []Migration, tb []Table) ([]Migration, []Table){
		"a migration's SQL":     func(m []Migration, tb []Table) ([]Migration, []Table) { m[1].SQL += " "; return m, tb },
		"a migration's version": func(m []Migration, tb []Table) ([]Migration, []Table) { m[1].Version = 3; return m, tb },
		"a migration more":      func(m []Migration, tb []Table) ([]Migration, []Table) { return append(m, Migration{3, ""}), tb },
		"a table's name":        func(m []Migration, tb []Table) ([]Migration, []Table) { tb[1].Name = "c"; return m, tb },
		"resurrect":             func(m []Migration, tb []Table) ([]Migration, []Table) { tb[1].Resurrect = true; return m, tb },
		"a text column":         func(m []Migration, tb []Table) ([]Migration, []Table) { tb[0].Text = nil; return m, tb },
		"the tables' order":     func(m []Migration, tb []Table) ([]Migration, []Table) { tb[0], tb[1] = tb[1], tb[0]; return m, tb },
		// Lengths are part of the encoding: moving text from one field to
		// the next is a change.
		"text moved between fields": func(m []Migration, tb []Table) ([]Migration, []Table) {
			tb[0].Name, tb[0].Text = "ab", []string{"ody"}
			return m, tb
		},
	}
	for what, change := range changes {
		if got := Fingerprint(change(base())); got == want {
			t.Errorf("%s changed, the fingerprint did not", what)
		}
	}
}
