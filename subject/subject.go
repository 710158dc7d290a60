// Package subject assembles what trustd knows about one digest: the subject
// it belongs to, its aliases with the signed claims that link them, and the
// evidence recorded for any of them, each labelled with how it was reached.
// It is the one place the alias rule lives: nothing crosses an alias link
// without carrying the claim that made it.
package subject

import (
	"context"
	"fmt"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/store"
)

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

// Evidence is a log entry naming the queried digest or one of its aliases.
type Evidence struct {
	store.Evidence
	// ViaAlias is true when the entry names an alias rather than the
	// queried digest, so it holds only as far as the alias claim holds.
	ViaAlias bool
}

// View is the answer to a lookup.
type View struct {
	Subject  store.Subject
	Queried  digest.Digest
	Aliases  []Alias
	Evidence []Evidence
	// Truncated is true when more evidence exists than the limit allowed;
	// NextBefore then continues the listing (as Page.BeforeSeq).
	Truncated  bool
	NextBefore int64
}

// Page selects the evidence a lookup returns: at most Limit rows (0: none),
// older than BeforeSeq when it is positive.
type Page = store.EvidencePage

// Lookup builds the View of d with the page of evidence rows that page
// selects. Claims are followed one hop from the subject's digests: a digest
// that a claim links from another subject is shown, labelled, but its own
// subject is not pulled in. A page ends between log entries, never inside
// one (unless a single entry has more rows than the page holds), so the
// next page, older than the last entry shown, misses nothing.
// Errors: store.ErrNotFound when d is unknown.
func Lookup(ctx context.Context, r Reader, d digest.Digest, page Page) (View, error) {
	evidenceLimit := max(page.Limit, 0)
	fetch := Page{BeforeSeq: page.BeforeSeq}
	if evidenceLimit > 0 {
		fetch.Limit = evidenceLimit + 1
	}
	sv, err := r.SubjectView(ctx, d, fetch)
	if err != nil {
		return View{}, fmt.Errorf("subject: lookup %s: %w", d, err)
	}
	subj, claims, ev := sv.Subject, sv.Claims, sv.Evidence
	v := View{Subject: subj, Queried: d}

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

	if evidenceLimit <= 0 {
		return v, nil
	}
	if len(ev) > evidenceLimit {
		cut := evidenceLimit
		for cut > 0 && ev[cut].Seq == ev[cut-1].Seq {
			cut--
		}
		if cut == 0 {
			cut = evidenceLimit
		}
		ev, v.Truncated = ev[:cut], true
		v.NextBefore = ev[cut-1].Seq
	}
	for _, e := range ev {
		v.Evidence = append(v.Evidence, Evidence{Evidence: e, ViaAlias: e.Digest != d})
	}
	return v, nil
}
