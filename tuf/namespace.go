package tuf

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ReservedNamespace is the first segment of trustd's own repositories
// (trustd/keys): only trustd creates them (Service.InitReserved), at its
// first start, and no caller can create a repository under it.
const ReservedNamespace = "trustd"

// Reserved reports whether repo is trustd's own: "trustd" or "trustd/…".
func Reserved(repo string) bool {
	return repo == ReservedNamespace || strings.HasPrefix(repo, ReservedNamespace+"/")
}

// CreationPolicy says who may create a repository (Service.Init). The proof
// is a signature: root v1 must be signed, validly, by a root key of its own
// that the policy names for that repository name. Naming a key in a root
// proves nothing; its signature on root v1 does.
//
// A name matching an Owner's pattern needs a signature by one of that
// owner's keys (the most specific pattern decides: an exact name, then the
// longest prefix). A name no pattern claims needs nothing when the policy
// is open, and an operator key when it is Closed. Operator keys may create
// any repository. Names under trustd/ are refused whatever the policy.
// The zero value is open with no owners.
type CreationPolicy struct {
	// Closed refuses names no Owner pattern claims unless an operator key
	// signs root v1; false lets anyone create them.
	Closed bool
	// Operators are TUF key ids that may create any repository outside
	// trustd/.
	Operators []string
	// Owners give name patterns to the keys that may create repositories
	// under them.
	Owners []Owner
}

// Owner gives repositories matching Pattern to KeyIDs. Pattern is a
// repository name ("acme/images": that name only) or a prefix ending in
// "/*" ("acme/*": every repository below acme/, not acme itself).
type Owner struct {
	Pattern string
	KeyIDs  []string
}

// ParseOwner parses "PATTERN=KEYID[,KEYID…]" ("acme/*=3f2a…,9b1c…"): a
// repository name or NAME/* and the TUF key ids (64 hex digits) of its
// owners.
func ParseOwner(s string) (Owner, error) {
	pattern, ids, ok := strings.Cut(s, "=")
	if !ok {
		return Owner{}, fmt.Errorf("%q: want PATTERN=KEYID[,KEYID…], e.g. acme/*=KEYID", trunc(s))
	}
	o := Owner{Pattern: strings.TrimSpace(pattern)}
	for id := range strings.SplitSeq(ids, ",") {
		if id = strings.ToLower(strings.TrimSpace(id)); id != "" {
			o.KeyIDs = append(o.KeyIDs, id)
		}
	}
	if err := o.validate(); err != nil {
		return Owner{}, err
	}
	return o, nil
}

func (o Owner) validate() error {
	name, _ := strings.CutSuffix(o.Pattern, "/*")
	if ValidRepoName(name) != nil {
		return fmt.Errorf("owner pattern %q: want a repository name (acme/images) or NAME/* (acme/*)", trunc(o.Pattern))
	}
	if Reserved(name) {
		return fmt.Errorf("owner pattern %q: names under %s/ are reserved for trustd's own repositories", o.Pattern, ReservedNamespace)
	}
	if len(o.KeyIDs) == 0 {
		return fmt.Errorf("owner pattern %q: no key id", o.Pattern)
	}
	for _, id := range o.KeyIDs {
		if err := checkKeyID(id); err != nil {
			return fmt.Errorf("owner pattern %q: %w", o.Pattern, err)
		}
	}
	return nil
}

func checkKeyID(id string) error {
	if len(id) != 64 || !isHex(id) {
		return fmt.Errorf("key id %q: want a TUF key id, 64 hex digits (as 'trustctl key generate' and 'trustctl key add' print it)", trunc(id))
	}
	return nil
}

// Validate checks every operator key id and owner pattern.
func (p CreationPolicy) Validate() error {
	var errs []error
	for _, id := range p.Operators {
		if err := checkKeyID(id); err != nil {
			errs = append(errs, fmt.Errorf("operator %w", err))
		}
	}
	seen := map[string]bool{}
	for _, o := range p.Owners {
		if err := o.validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[o.Pattern] {
			errs = append(errs, fmt.Errorf("owner pattern %q is given twice; list every key id in one", o.Pattern))
		}
		seen[o.Pattern] = true
	}
	return errors.Join(errs...)
}

// owner returns the most specific Owner whose pattern matches repo: the
// exact name, else the longest NAME/* prefix.
func (p CreationPolicy) owner(repo string) (Owner, bool) {
	var best Owner
	found := false
	for _, o := range p.Owners {
		prefix, wild := strings.CutSuffix(o.Pattern, "/*")
		switch {
		case !wild && o.Pattern == repo:
			return o, true
		case wild && strings.HasPrefix(repo, prefix+"/") && (!found || len(o.Pattern) > len(best.Pattern)):
			best, found = o, true
		}
	}
	return best, found
}

// Check says whether a root v1 for repo whose valid signatures are by
// signers may create it; a refusal matches ErrNotAuthorized and says who
// may.
func (p CreationPolicy) Check(repo string, signers []string) error {
	deny := func(reason string) error {
		return &Error{Op: "init", Repo: repo, Field: "signatures", Kind: ErrNotAuthorized, Reason: reason}
	}
	if Reserved(repo) {
		return &Error{Op: "init", Repo: repo, Field: "repo", Kind: ErrNotAuthorized,
			Reason: fmt.Sprintf("names under %s/ are reserved for trustd's own repositories, which trustd creates itself", ReservedNamespace)}
	}
	signedBy := func(ids []string) bool {
		return slices.ContainsFunc(signers, func(s string) bool { return slices.Contains(ids, s) })
	}
	if signedBy(p.Operators) {
		return nil
	}
	if o, ok := p.owner(repo); ok {
		if signedBy(o.KeyIDs) {
			return nil
		}
		return deny(fmt.Sprintf("repositories matching %s belong to keys %s: root v1 must be signed by one of them (or by an operator key); it is signed by %s",
			o.Pattern, strings.Join(o.KeyIDs, ", "), listOrNone(signers)))
	}
	if !p.Closed {
		return nil
	}
	if len(p.Operators) == 0 {
		return deny("creating repositories is closed on this server: no operator key and no owner of this name is configured")
	}
	return deny(fmt.Sprintf("only operator keys (%s) may create repositories here: root v1 must be signed by one of them; it is signed by %s",
		strings.Join(p.Operators, ", "), listOrNone(signers)))
}

func listOrNone(ids []string) string {
	if len(ids) == 0 {
		return "no key"
	}
	return strings.Join(ids, ", ")
}

// Describe summarises the policy in one line, for trustd's startup log.
func (p CreationPolicy) Describe() string {
	mode := "open"
	if p.Closed {
		mode = "operators and owners only"
		if len(p.Operators) == 0 && len(p.Owners) == 0 {
			mode = "closed"
		}
	}
	parts := []string{mode}
	if len(p.Operators) > 0 {
		parts = append(parts, fmt.Sprintf("%d operator key(s)", len(p.Operators)))
	}
	for _, o := range p.Owners {
		parts = append(parts, fmt.Sprintf("%s: %d key(s)", o.Pattern, len(o.KeyIDs)))
	}
	return strings.Join(parts, "; ")
}
