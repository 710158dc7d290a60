package subject_test

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"github.com/theupdateframework/go-tuf/v2/metadata"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/teststore"
	"github.com/trustd-dev/trustd/internal/tuftest"
	"github.com/trustd-dev/trustd/keys"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/subject"
	"github.com/trustd-dev/trustd/tlog"
)

// TestClaimFloodBounded is the attack on a lookup's size: a stranger
// registers a key and logs statements whose subject lists a release's
// sha256 beside a sha512 of their own, more of them than a lookup shows,
// before the publisher's TUF target links the release's own sha512. The
// lookup shows at most MaxClaims claims, says how many it left out, and
// keeps the publisher's record, which the stranger's claims cannot push
// out however many there are.
func TestClaimFloodBounded(t *testing.T) {
	for _, be := range teststore.Backends() {
		t.Run(be.Name, func(t *testing.T) {
			ctx := context.Background()
			st := be.Open(t)
			skey, vkey, err := tlog.GenerateLogKey("test-log")
			if err != nil {
				t.Fatal(err)
			}
			log, err := statement.New(st, statement.Options{LogKey: skey, LogVerifierKey: vkey})
			if err != nil {
				t.Fatal(err)
			}
			priv, pub, err := envelope.GenerateKey(envelope.KeyTypeED25519)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := keys.NewRegistry(st).Add(ctx, pub.Encode(), "stranger"); err != nil {
				t.Fatal(err)
			}
			stranger, _, err := envelope.LoadPrivateKey(priv, nil)
			if err != nil {
				t.Fatal(err)
			}
			content := []byte("the release")
			release := sha256Of(content)
			const flood = subject.MaxClaims + 5
			for i := range flood {
				stmt, err := envelope.NewStatement("https://example.com/scan/v1", json.RawMessage(`{}`),
					envelope.Subject{Name: "x", Digests: []digest.Digest{release, sha512Of(fmt.Append(nil, "flood-", i))}})
				if err != nil {
					t.Fatal(err)
				}
				env, err := envelope.Sign(ctx, envelope.PayloadTypeInToto, stmt, stranger)
				if err != nil {
					t.Fatal(err)
				}
				raw, err := json.Marshal(env)
				if err != nil {
					t.Fatal(err)
				}
				if _, _, err := log.Submit(ctx, raw); err != nil {
					t.Fatal(err)
				}
			}
			svc, repo := tuftest.InitRepo(t, st, log, "acme/app", tuftest.NewKey(t))
			if _, err := svc.Upload(ctx, repo.Name, metadata.TARGETS, repo.SignTargets(t, nil, "app.tar", content)); err != nil {
				t.Fatal(err)
			}

			v, err := subject.Lookup(ctx, st, release)
			if err != nil {
				t.Fatal(err)
			}
			claims := map[string]store.AliasClaim{}
			for _, a := range v.Aliases {
				for _, c := range a.Claims {
					claims[string(c.Source)+" "+c.Reference] = c
				}
			}
			if len(claims) != subject.MaxClaims || v.OmittedClaims != flood+1-subject.MaxClaims {
				t.Errorf("the lookup shows %d claims and omits %d; want %d shown, %d omitted", len(claims), v.OmittedClaims,
					subject.MaxClaims, flood+1-subject.MaxClaims)
			}
			var publisher bool
			for _, c := range claims {
				publisher = publisher || recordtype.WrittenByOwner(c.PayloadType, c.PredicateType) && slices.Contains(c.Digests, sha512Of(content))
			}
			if !publisher {
				t.Errorf("the publisher's TUF target linking %s to its sha512 is not among the claims shown", release)
			}
		})
	}
}

func sha256Of(b []byte) digest.Digest {
	sum := sha256.Sum256(b)
	d, err := digest.New(digest.SHA256, sum[:])
	if err != nil {
		panic(err)
	}
	return d
}

func sha512Of(b []byte) digest.Digest {
	sum := sha512.Sum512(b)
	d, err := digest.New(digest.SHA512, sum[:])
	if err != nil {
		panic(err)
	}
	return d
}
