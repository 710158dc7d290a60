package location_test

import (
	"errors"
	"testing"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/location"
)

// FuzzParse: any predicate and name either parse into a location the
// rules allow or are refused with ErrInvalid; never a panic.
func FuzzParse(f *testing.F) {
	d := sha256Of("a")
	for _, s := range []string{`{"uri":"https://m.example.com/a"}`, `{"uri":"oci://r.example.com/a@` + d.String() + `"}`,
		`{"uri":"http://127.0.0.1/"}`, `{"uri":"file:///x"}`, `{"uri":"https://[::1]/"}`, `{}`, `null`, `{"uri":1}`} {
		f.Add(s, "app.tar.gz")
	}
	f.Fuzz(func(t *testing.T, predicate, name string) {
		st := envelope.Statement{PredicateType: location.PredicateType, Predicate: []byte(predicate),
			Subjects: []envelope.Subject{{Name: name, Digests: []digest.Digest{d}}}}
		c, err := location.Parse(st, location.Rules{})
		if err != nil {
			if !errors.Is(err, location.ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if err := location.CheckURI(c.URI, c.Digests, location.Rules{}); err != nil {
			t.Fatalf("parsed %q but CheckURI refuses it: %v", c.URI, err)
		}
		_ = location.URLs(c.URI, c.Name, c.Digests)
	})
}
