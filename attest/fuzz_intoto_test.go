package attest_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/internal/teststore"
)

// FuzzPutInToto feeds arbitrary documents, seeded with in-toto layouts and
// links in both formats (v0.9 metablocks and in-toto 1.0 DSSE envelopes,
// signed, and broken ones in testdata/fuzz), to Put as layouts of a
// registered owner and as links of a stored layout. Put must never panic,
// must store nothing when it refuses, and must store exactly the bytes it
// was given when it accepts them as new; what it accepts as logged before
// (the same object its signer signed, in any form) is an entry already in
// the log.
func FuzzPutInToto(f *testing.F) {
	e := newEnv(f, teststore.Backends()[0], 0)
	ctx := context.Background()
	sc := newSupplyChain(f, e)
	layout := sc.Layout(f, "fuzz")
	l, _, err := e.svc.Put(ctx, attest.PutRequest{Data: layout, LayoutKeyIDs: []string{sc.ownerID}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(layout)
	f.Add(sc.Link(f, "write-code", nil, []string{"foo.py"}, sc.Alice))
	sc.DSSE = true
	f.Add(sc.Layout(f, "fuzz dsse"))
	f.Add(sc.Link(f, "write-code", nil, []string{"foo.py"}, sc.Alice))
	f.Add(sc.Link(f, "package", []string{"foo.py"}, []string{"foo.tar.gz"}, sc.Bob))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, req := range []attest.PutRequest{
			{Data: data, LayoutKeyIDs: []string{sc.ownerID}},
			{Data: data, Layout: l.Seq},
		} {
			before := logSize(t, e.store)
			a, created, err := e.svc.Put(ctx, req)
			if err != nil {
				if after := logSize(t, e.store); after != before {
					t.Fatalf("refused (%v) but the log grew from %d to %d", err, before, after)
				}
				continue
			}
			switch {
			case created && !bytes.Equal(a.Envelope, data):
				t.Fatalf("stored %q for %q", a.Envelope, data)
			case !created && (a.Seq < 1 || uint64(a.Seq) > before || logSize(t, e.store) != before):
				t.Fatalf("logged before as entry %d, but the log had %d entries and now has %d", a.Seq, before, logSize(t, e.store))
			}
		}
	})
}
