package digest

import (
	"fmt"
	"strings"

	godigest "github.com/opencontainers/go-digest"
)

// FromOCI converts a go-digest Digest. Only the OCI "algorithm:hex" form of a
// supported algorithm is accepted, with the same strictness as Parse.
func FromOCI(d godigest.Digest) (Digest, error) {
	s := string(d)
	if s != "" && len(s) <= MaxStringLength && (s[0] == 0 || !strings.Contains(s, ":")) {
		return Digest{}, &ParseError{Input: s, Err: fmt.Errorf("%w: not in OCI \"algorithm:hex\" form", ErrBadEncoding)}
	}
	return Parse(s)
}

// OCI converts d to a go-digest Digest, e.g. for use with OCI registry and
// image-spec libraries; the zero Digest gives "".
func (d Digest) OCI() godigest.Digest {
	return godigest.Digest(d.String())
}
