package revocation

import (
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/token"
)

// FuzzAcceptedKeyID: a target name read from trustd/keys is taken for an
// accepted key of a purpose only when it is exactly the name
// AcceptedKeyTarget gives that key, so no name of one purpose passes for
// another's.
func FuzzAcceptedKeyID(f *testing.F) {
	for _, s := range []string{"token.pub", "token.ab12.pub", "token..pub", "token.a.b.pub", "token.a/b.pub", "revocation-list.ab.pub",
		"log.ff.vkey", "log.vkey", "token.pubx", "xtoken.ab.pub"} {
		f.Add(s)
	}
	names := []string{token.KeyTarget, ListKeyTarget, LogKeyTarget}
	f.Fuzz(func(t *testing.T, target string) {
		matched := 0
		for _, name := range names {
			id, ok := acceptedKeyID(name, target)
			if !ok {
				continue
			}
			matched++
			if id == "" || strings.ContainsAny(id, "./") || AcceptedKeyTarget(name, id) != target {
				t.Fatalf("acceptedKeyID(%q, %q) = %q, which names %q", name, target, id, AcceptedKeyTarget(name, id))
			}
			if target == name {
				t.Fatalf("the target of the key in use %q taken for an accepted key", target)
			}
		}
		if matched > 1 {
			t.Fatalf("%q is an accepted key of %d purposes", target, matched)
		}
	})
}
