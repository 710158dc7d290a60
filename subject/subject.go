// Package subject assembles which digests name the same bytes as one
// digest: the subject it belongs to and its aliases with the signed claims
// that link them. It is the one place the alias rule lives: nothing
// crosses an alias link without carrying the claim that made it. The
// evidence about those digests is package evidence's.
package subject

import (
	"context"
	"fmt"
	"slices"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/recordtype"
	"github.com/trustd-dev/trustd/store"
)

// MaxClaims bounds the alias claims one lookup shows. Anyone may log a
// statement whose subject lists someone's digest beside another, so the
// claims naming a digest are as many as strangers like: unbounded, they
// would make a lookup of someone else's artifact as large as a stranger
// wants (past what a client accepts, so it fails).
const MaxClaims = 100

// Reader is the part of the store a lookup needs.
type Reader interface {
	SubjectView(ctx context.Context, d digest.Digest, page store.EvidencePage) (store.SubjectView, error)
}

// Alias is one digest that is, or is claimed to be, of the same bytes as the
// queried digest.
type Alias struct {
	Digest digest.Digest
	// Queried marks the digest the lookup asked about.
	Queried bool
	// SameSubject is true when the digest is recorded under the queried
	// digest's subject; false when only a claim links it to a digest of
	// that subject.
	SameSubject bool
	// Claims are the alias claims naming this digest and at least one
	// other alias.
	Claims []store.AliasClaim
}

// View is the answer to a lookup.
type View struct {
	Subject store.Subject
	Queried digest.Digest
	// Aliases are the queried digest first, then the subject's other
	// digests, then those claims link from other subjects.
	Aliases []Alias
	// OmittedClaims counts the claims naming the subject's digests that
	// are not shown (MaxClaims).
	OmittedClaims int
}

// Lookup builds the View of d. Claims are followed one hop from the
// subject's digests: a digest that a claim links from another subject is
// shown, labelled, but its own subject is not pulled in.
// Errors: store.ErrNotFound when d is unknown.
func Lookup(ctx context.Context, r Reader, d digest.Digest) (View, error) {
	sv, err := r.SubjectView(ctx, d, store.EvidencePage{Claims: MaxClaims})
	if err != nil {
		return View{}, fmt.Errorf("subject: lookup %s: %w", d, err)
	}
	subj, claims := sv.Subject, shown(sv.Claims)
	v := View{Subject: subj, Queried: d, OmittedClaims: max(sv.ClaimCount, len(sv.Claims)) - len(claims)}

	inSubject := make(map[digest.Digest]bool, len(subj.Digests))
	for _, sd := range subj.Digests {
		inSubject[sd] = true
	}
	index := map[digest.Digest]int{}
	add := func(a digest.Digest) {
		if _, ok := index[a]; !ok {
			index[a] = len(v.Aliases)
			v.Aliases = append(v.Aliases, Alias{Digest: a, Queried: a == d, SameSubject: inSubject[a]})
		}
	}
	add(d)
	for _, sd := range subj.Digests {
		add(sd)
	}
	for _, c := range claims {
		for _, cd := range c.Digests {
			add(cd)
			a := &v.Aliases[index[cd]]
			a.Claims = append(a.Claims, c)
		}
	}

	return v, nil
}

// shown returns at most MaxClaims of claims, in their order. Claims
// trustd itself made (a TUF target's, or a publication's: TUF metadata, a
// published manifest) come before signed statements anyone may log, so a
// stranger's flood cannot push a publisher's record out; among each, the
// oldest are kept. The store reads the statements' claims in that order
// and no more than MaxClaims of them; its stored claims come besides.
func shown(claims []store.AliasClaim) []store.AliasClaim {
	if len(claims) <= MaxClaims {
		return claims
	}
	byTrustd := func(c store.AliasClaim) bool {
		return c.StatementSeq == 0 || recordtype.Publication(c.PayloadType, c.PredicateType)
	}
	keep := make([]int, 0, MaxClaims)
	for pass := range 2 {
		for i, c := range claims {
			if len(keep) < MaxClaims && byTrustd(c) == (pass == 0) {
				keep = append(keep, i)
			}
		}
	}
	slices.Sort(keep)
	out := make([]store.AliasClaim, len(keep))
	for i, k := range keep {
		out[i] = claims[k]
	}
	return out
}
