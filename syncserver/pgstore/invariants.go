package pgstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/hearthdb/hearth/syncworker/change"
	"github.com/jackc/pgx/v5"
)

// txQuerier runs an invariant's queries inside the push transaction. The
// same invariant SQL runs on SQLite and here: ? and ?NNN placeholders
// become $n. Each query runs in a savepoint made read-only and rolled
// back afterwards, so an invariant can only read, as on SQLite.
type txQuerier struct{ ps *pushState }

func (q *txQuerier) Query(ctx context.Context, sql string, args ...any) ([][]any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	translated, err := placeholders(sql)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	values := make([]any, len(args))
	for i, a := range args {
		if err := change.CheckValue(a); err != nil {
			return nil, fmt.Errorf("query argument %d: %w", i+1, err)
		}
		values[i] = a
	}
	// The invariant must see the writes still queued.
	if err := q.ps.flush(ctx); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	tx := q.ps.tx
	if _, err := tx.Exec(ctx, "SAVEPOINT hearth_invariant; SET LOCAL transaction_read_only = on"); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	out, qerr := q.run(ctx, tx, translated, values)
	if _, err := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT hearth_invariant; RELEASE SAVEPOINT hearth_invariant"); err != nil && qerr == nil {
		qerr = fmt.Errorf("query: %w", err)
	}
	return out, qerr
}

func (q *txQuerier) run(ctx context.Context, tx pgx.Tx, sql string, args []any) ([][]any, error) {
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, fmt.Errorf("query: %w", err)
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			row[i] = storable(v)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query: %w", err)
	}
	return out, nil
}

// maxParameter is the largest parameter number SQLite accepts (its
// default SQLITE_MAX_VARIABLE_NUMBER); PostgreSQL accepts more.
const maxParameter = 32766

// placeholders rewrites SQLite's ? and ?NNN parameters as PostgreSQL's
// $n, leaving string literals, quoted identifiers and comments alone.
func placeholders(sql string) (string, error) {
	var sb strings.Builder
	next := 1
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(sql) {
				if sql[j] == c {
					if j+1 < len(sql) && sql[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			if j >= len(sql) {
				return "", errors.New("unterminated quote")
			}
			sb.WriteString(sql[i : j+1])
			i = j
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			j := strings.IndexByte(sql[i:], '\n')
			if j < 0 {
				j = len(sql) - i
			}
			sb.WriteString(sql[i : i+j])
			i += j - 1
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			j := strings.Index(sql[i+2:], "*/")
			if j < 0 {
				return "", errors.New("unterminated comment")
			}
			sb.WriteString(sql[i : i+2+j+2])
			i += 2 + j + 1
		case c == '?':
			j := i + 1
			for j < len(sql) && sql[j] >= '0' && sql[j] <= '9' {
				j++
			}
			n := next
			if j > i+1 {
				n, _ = strconv.Atoi(sql[i+1 : j])
			}
			if n < 1 || n > maxParameter {
				return "", fmt.Errorf("parameter %s: SQLite numbers parameters 1 to %d", sql[i:j], maxParameter)
			}
			sb.WriteString("$" + strconv.Itoa(n))
			next = max(next, n+1)
			i = j - 1
		default:
			sb.WriteByte(c)
		}
	}
	return sb.String(), nil
}
