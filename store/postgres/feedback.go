package postgres

import (
	"fmt"

	"github.com/trustd-dev/trustd/store/internal/sqlstore"
)

var _ sqlstore.TextLister = dialect{}

// TextIn matches col against a text[] parameter: one statement text, and
// one parameter, for any number of values.
func (dialect) TextIn(col string, param int, values []string) (string, []any) {
	return fmt.Sprintf("%s = ANY($%d::text[])", col, param), []any{values}
}
