package revocation

import (
	"context"
	"fmt"
	"strings"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/tuf"
	"github.com/trustd-dev/trustd/tufstore"
)

// ScopeKind is what a security authority scope ranges over.
type ScopeKind string

// Scope kinds.
const (
	// ScopeDigest covers the digests whose canonical form
	// ("algorithm:hex") starts with the scope's value.
	ScopeDigest ScopeKind = "digest"
	// ScopeRepo covers the digests a TUF repository whose name matches the
	// scope's pattern published first as a target (not ones it mirrors).
	ScopeRepo ScopeKind = "repo"
	// ScopeKey covers the registered key whose id is the scope's value.
	ScopeKey ScopeKind = "key"
)

// Scope is one part of what the security authority may revoke. Its text
// form (ParseScope, String) is one of
//
//	ALGORITHM:HEXPREFIX  digests starting so, e.g. sha256:ab12
//	repo:NAME            digests TUF repository NAME published first
//	repo:PREFIX/*        … any repository under PREFIX/ (any depth)
//	repo:*               … any TUF repository
//	key:ID               the registered key ID
//
// No scope covers a statement (only its signers may revoke it) or a token
// (its issuer may).
type Scope struct {
	Kind  ScopeKind
	Value string
}

// String is the scope's text form.
func (s Scope) String() string {
	if s.Kind == ScopeDigest {
		return s.Value
	}
	return string(s.Kind) + ":" + s.Value
}

// MaxScopeBytes bounds a scope's text form.
const MaxScopeBytes = 300

const opScope = "revocation"

func badScope(s, reason string) error {
	return inputerr.New(opScope, "scope", ErrInvalid, fmt.Sprintf("%q: %s", truncScope(s), reason))
}

func truncScope(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// ParseScope reads a scope in its text form (see Scope); a digest prefix
// is lower-cased.
func ParseScope(s string) (Scope, error) {
	if s == "" || len(s) > MaxScopeBytes {
		return Scope{}, badScope(s, fmt.Sprintf("required, at most %d bytes", MaxScopeBytes))
	}
	kind, value, ok := strings.Cut(s, ":")
	if !ok || value == "" {
		return Scope{}, badScope(s, "want ALGORITHM:HEXPREFIX, repo:NAME, repo:PREFIX/*, repo:* or key:ID")
	}
	switch kind {
	case string(ScopeRepo):
		if value == "*" {
			return Scope{Kind: ScopeRepo, Value: value}, nil
		}
		name := strings.TrimSuffix(value, "/*")
		if strings.Contains(name, "*") {
			return Scope{}, badScope(s, "a repository pattern is a name, PREFIX/* or *")
		}
		if err := tuf.ValidRepoName(name); err != nil {
			return Scope{}, badScope(s, err.Error())
		}
		return Scope{Kind: ScopeRepo, Value: value}, nil
	case string(ScopeKey):
		id, err := CanonicalID(KindKey, value)
		if err != nil {
			return Scope{}, badScope(s, "not a key id")
		}
		return Scope{Kind: ScopeKey, Value: id}, nil
	}
	alg, err := digest.ParseAlgorithm(kind)
	if err != nil {
		return Scope{}, badScope(s, "want ALGORITHM:HEXPREFIX (a digest algorithm such as sha256), repo:… or key:…")
	}
	hex := strings.ToLower(value)
	if len(hex) > 2*alg.Size() {
		return Scope{}, badScope(s, fmt.Sprintf("a %s digest has %d hex digits", alg, 2*alg.Size()))
	}
	for _, c := range hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return Scope{}, badScope(s, fmt.Sprintf("%q is not a hex digit", c))
		}
	}
	return Scope{Kind: ScopeDigest, Value: string(alg) + ":" + hex}, nil
}

// matchRepo reports whether repository name matches a ScopeRepo pattern.
func matchRepo(pattern, name string) bool {
	if pattern == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(name, prefix)
	}
	return name == pattern
}

// threshold is the number of distinct security authority keys a
// revocation relying on the security authority needs.
func (s *Service) threshold() int { return max(1, s.cfg.SecurityThreshold) }

// securityAuthority returns "" when the security authority keys among a
// revocation's signers (distinct, none of them revoked) may revoke t: at
// least the threshold of them signed, and t lies within a scope (or the
// authority is unscoped). Otherwise it returns why not.
func (s *Service) securityAuthority(ctx context.Context, t Target, signers []string) (string, error) {
	if t.Kind == KindStatement {
		return "the security authority may not revoke a statement; its signers may", nil
	}
	if k := s.threshold(); len(signers) < k {
		return fmt.Sprintf("the security authority needs %d of its %d keys to sign one envelope; %d did (%s)",
			k, len(s.cfg.SecurityAuthority), len(signers), strings.Join(signers, ", ")), nil
	}
	if len(s.cfg.SecurityScopes) == 0 {
		return "", nil
	}
	for _, sc := range s.cfg.SecurityScopes {
		ok, err := s.covers(ctx, sc, t)
		if err != nil || ok {
			return "", err
		}
	}
	names := make([]string, len(s.cfg.SecurityScopes))
	for i, sc := range s.cfg.SecurityScopes {
		names[i] = sc.String()
	}
	return fmt.Sprintf("%s lies outside every scope of the security authority (%s)", t, strings.Join(names, ", ")), nil
}

// covers reports whether scope sc covers target t.
func (s *Service) covers(ctx context.Context, sc Scope, t Target) (bool, error) {
	switch {
	case sc.Kind == ScopeKey && t.Kind == KindKey:
		return t.ID == sc.Value, nil
	case sc.Kind == ScopeDigest && t.Kind == KindDigest:
		return strings.HasPrefix(t.ID, sc.Value), nil
	case sc.Kind == ScopeRepo && t.Kind == KindDigest:
		d, err := digest.Parse(t.ID)
		if err != nil {
			return false, fmt.Errorf("revocation: target.id: %w: %w", ErrInvalid, err)
		}
		return s.publishedBy(ctx, d, func(repo string) bool { return matchRepo(sc.Value, repo) })
	}
	return false, nil
}

// publishedBy reports whether the TUF repository whose targets role
// published d first (see IsPublisher) has a name satisfying match. A
// repository listing d later mirrors it and places it in no scope, so a
// repository under the scope cannot bring another's release into it.
func (s *Service) publishedBy(ctx context.Context, d digest.Digest, match func(repo string) bool) (bool, error) {
	p, err := s.firstPublication(ctx, d)
	if err != nil {
		return false, err
	}
	return p.role != nil && match(p.role.Repo), nil
}

// publishedTUF returns the repository, role and version of each of the
// log entries seqs when it is TUF metadata trustd's TUF service
// published: its bytes (its envelope digest) are those of the published
// metadata of the repository, role and version its descriptor names. A
// statement that merely claims to be TUF metadata (any predicate type
// string can be signed by anyone) is not, so it places no digest in any
// repository and makes no key a role's signer. Entries that are not
// published TUF metadata are left out. Two reads, whatever the number of
// entries: anyone may publish version after version of a repository of
// their own, and each may need judging.
func (s *Service) publishedTUF(ctx context.Context, seqs ...int64) (map[int64]tufstore.Descriptor, error) {
	out := map[int64]tufstore.Descriptor{}
	if len(seqs) == 0 {
		return out, nil
	}
	sts, err := s.store.StatementPayloads(ctx, seqs)
	if err != nil {
		return nil, fmt.Errorf("revocation: TUF entries: %w", err)
	}
	descs := map[int64]tufstore.Descriptor{}
	var refs []store.TUFRef
	for _, st := range sts {
		desc, err := tufstore.Describe(st)
		if err != nil || desc.Pending || tuf.ValidRepoName(desc.Repo) != nil {
			continue
		}
		descs[st.Seq] = desc
		refs = append(refs, store.TUFRef{Repo: desc.Repo, Role: desc.Role, Version: desc.Version})
	}
	if len(refs) == 0 {
		return out, nil
	}
	sums, err := s.store.TUFMetadataDigests(ctx, refs)
	if err != nil {
		return nil, fmt.Errorf("revocation: TUF entries: %w", err)
	}
	for _, st := range sts {
		desc, ok := descs[st.Seq]
		if !ok {
			continue
		}
		if sum, ok := sums[store.TUFRef{Repo: desc.Repo, Role: desc.Role, Version: desc.Version}]; ok && st.EnvelopeDigest.String() == "sha256:"+sum {
			out[st.Seq] = desc
		}
	}
	return out, nil
}
