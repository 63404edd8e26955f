package sqlshape

// orderDependent are words whose presence lets a result depend on the
// order SQLite happens to read rows in, which an index over another column
// may decide. Matched on bare words only.
var orderDependent = map[string]string{
	"LIMIT": "LIMIT", "OFFSET": "OFFSET", "OVER": "a window function", "WINDOW": "a window",
	"GROUP_CONCAT": "group_concat()", "STRING_AGG": "string_agg()", "JSON_GROUP_ARRAY": "json_group_array()",
	"JSON_GROUP_OBJECT": "json_group_object()", "JSONB_GROUP_ARRAY": "jsonb_group_array()", "JSONB_GROUP_OBJECT": "jsonb_group_object()",
}

// NamedColumnsOnly returns nil when sql's result is decided by the values
// of the columns it names (and by which rows exist), so that a write that
// changed only other columns of the tables it reads leaves it as it was;
// else why not. It refuses what can make a result depend on the order rows
// are read in (LIMIT, OFFSET, window functions, the aggregates that
// concatenate in that order) or on something other than the rows (time,
// chance, the connection's state). Two things it cannot see stay
// unspecified by SQL either way: the order of rows that an ORDER BY leaves
// tied (or of all rows, without one), and the value of a bare column
// beside an aggregate (taken from some row of its group). Views are not
// its concern: their text is not in sql.
func NamedColumnsOnly(sql string) error {
	toks, err := tokenize(sql)
	if err != nil {
		return err
	}
	for _, t := range toks {
		if t.kind != bare {
			continue
		}
		w := t.upper()
		if why, ok := orderDependent[w]; ok {
			return refuse("%s", why)
		}
		if why, ok := notOfTheRows[w]; ok {
			return refuse("%s", why)
		}
	}
	return nil
}
