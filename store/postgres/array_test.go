package postgres

import (
	"reflect"
	"testing"
	"time"
)

// TestArrayColumn: a column whose values are all of its type goes to pgx
// as a typed slice; one value of another type, out of range or nil sends
// the column as a []any, which pgx then encodes or refuses itself.
func TestArrayColumn(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		typ  string
		vals []any
		want any
	}{
		{"text", "text", []any{"a", "b"}, []string{"a", "b"}},
		{"bigint from int and int64", "bigint", []any{int64(1), 2}, []int64{1, 2}},
		{"integer", "integer", []any{0, int64(7)}, []int32{0, 7}},
		{"integer out of range", "integer", []any{0, int64(1) << 40}, []any{0, int64(1) << 40}},
		{"smallint", "smallint", []any{-1, 1}, []int16{-1, 1}},
		{"bytea", "bytea", []any{[]byte("x"), []byte{}}, [][]byte{[]byte("x"), {}}},
		{"bytea with NULL", "bytea", []any{[]byte("x"), []byte(nil)}, []any{[]byte("x"), []byte(nil)}},
		{"timestamptz", "timestamptz", []any{at}, []time.Time{at}},
		{"text with NULL", "text", []any{"a", nil}, []any{"a", nil}},
		{"bigint with a string", "bigint", []any{int64(1), "2"}, []any{int64(1), "2"}},
		{"another type", "boolean", []any{true}, []any{true}},
	} {
		rows := make([][]any, len(tc.vals))
		for i, v := range tc.vals {
			rows[i] = []any{"other column", v}
		}
		if got := arrayColumn(tc.typ, rows, 1); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: arrayColumn = %#v, want %#v", tc.name, got, tc.want)
		}
	}
}
