package tuf

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/cjson"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
)

// authority is one set of keys with a threshold that must sign a document:
// the delegating role's entry for it (a root or a targets delegation), or,
// for a new root, the previous root's and its own root role.
type authority struct {
	name      string // human description: "root v3, role targets"
	keys      map[string]*metadata.Key
	keyIDs    []string
	threshold int
	// gate runs go-tuf's own VerifyDelegate for this authority: the check a
	// client makes, and the last one before publishing.
	gate func(md any) error
}

// evaluation is what the signatures on a document achieve.
type evaluation struct {
	valid  []string // key ids of valid signatures, in document order
	counts []int    // valid signatures per authority
	met    bool     // every authority's threshold is met
}

// canonical returns the canonical JSON of md's signed part: the bytes every
// signature covers.
func canonical(md any) ([]byte, error) {
	switch m := md.(type) {
	case *metadata.Metadata[metadata.RootType]:
		return cjson.EncodeCanonical(m.Signed)
	case *metadata.Metadata[metadata.TargetsType]:
		return cjson.EncodeCanonical(m.Signed)
	case *metadata.Metadata[metadata.SnapshotType]:
		return cjson.EncodeCanonical(m.Signed)
	case *metadata.Metadata[metadata.TimestampType]:
		return cjson.EncodeCanonical(m.Signed)
	}
	return nil, fmt.Errorf("unexpected metadata type %T", md)
}

// verifySig verifies one signature over payload with key, choosing the
// verifier exactly as go-tuf's VerifyDelegate does (ed25519; ECDSA with the
// scheme's hash; RSASSA-PSS with SHA-256).
func verifySig(key *metadata.Key, payload, sig []byte) error {
	pub, err := key.ToPublicKey()
	if err != nil {
		return err
	}
	hash := crypto.Hash(0)
	if key.Type != metadata.KeyTypeEd25519 {
		hash = crypto.SHA256
		if key.Scheme == metadata.KeySchemeECDSA_SHA2_P384 {
			hash = crypto.SHA384
		}
	}
	var v signature.Verifier
	if key.Type == metadata.KeyTypeRSASSA_PSS_SHA256 {
		rk, ok := pub.(*rsa.PublicKey)
		if !ok {
			return errors.New("not an rsa key")
		}
		v, err = signature.LoadRSAPSSVerifier(rk, hash, &rsa.PSSOptions{Hash: crypto.SHA256})
	} else {
		v, err = signature.LoadVerifier(pub, hash)
	}
	if err != nil {
		return err
	}
	return v.VerifySignature(bytes.NewReader(sig), bytes.NewReader(payload))
}

// evaluate verifies every signature on md against auths. A signature by a
// key no authority lists, or one that does not verify, rejects the document.
// The canonical form of signed is computed once here; go-tuf's own
// VerifyDelegate then re-checks thresholds before anything is published
// (gate).
func evaluate(md any, sigs []metadata.Signature, auths []authority) (evaluation, *fault) {
	var ev evaluation
	payload, err := canonical(md)
	if err != nil {
		return ev, &fault{field: "signed", reason: "has no canonical JSON form (floats are not allowed)", kind: ErrMalformed, err: err}
	}
	valid := map[string]bool{}
	for i, sg := range sigs {
		var key *metadata.Key
		for _, a := range auths {
			if slices.Contains(a.keyIDs, sg.KeyID) {
				key = a.keys[sg.KeyID]
				break
			}
		}
		if key == nil {
			return ev, newFault(ErrBadSignature, fmt.Sprintf("signatures[%d].keyid", i),
				fmt.Sprintf("key %s is not a key of %s", sg.KeyID, describe(auths)))
		}
		if err := verifySig(key, payload, sg.Signature); err != nil {
			return ev, newFault(ErrBadSignature, fmt.Sprintf("signatures[%d].sig", i),
				fmt.Sprintf("does not verify with key %s (%s) over the canonical JSON of signed", sg.KeyID, key.Scheme))
		}
		valid[sg.KeyID] = true
		ev.valid = append(ev.valid, sg.KeyID)
	}
	ev.met = true
	for _, a := range auths {
		n := 0
		for _, id := range a.keyIDs {
			if valid[id] {
				n++
			}
		}
		ev.counts = append(ev.counts, n)
		if n < a.threshold {
			ev.met = false
		}
	}
	return ev, nil
}

// gate runs go-tuf's VerifyDelegate for every authority.
func gate(md any, auths []authority) error {
	for _, a := range auths {
		if err := a.gate(md); err != nil {
			return fmt.Errorf("go-tuf rejects it for %s: %w", a.name, err)
		}
	}
	return nil
}

func describe(auths []authority) string {
	names := make([]string, len(auths))
	for i, a := range auths {
		names[i] = a.name
	}
	return strings.Join(names, " or ")
}

// rootAuthority is the root role of root r.
func rootAuthority(r *metadata.Metadata[metadata.RootType], role string) authority {
	rr := r.Signed.Roles[role]
	return authority{
		name:      fmt.Sprintf("root v%d, role %s", r.Signed.Version, role),
		keys:      r.Signed.Keys,
		keyIDs:    rr.KeyIDs,
		threshold: rr.Threshold,
		gate:      func(md any) error { return r.VerifyDelegate(role, md) },
	}
}

// delegator is one targets role that delegates to a role.
type delegator struct {
	parent  string
	version int64
	deleg   *metadata.Delegations
	role    *metadata.DelegatedRole // nil for a succinct (hashed-bin) delegation
}

func (d delegator) authority(child string) authority {
	a := authority{keys: d.deleg.Keys}
	if d.role != nil {
		a.name = fmt.Sprintf("%s v%d, delegation %s", d.parent, d.version, child)
		a.keyIDs, a.threshold = d.role.KeyIDs, d.role.Threshold
	} else {
		sr := d.deleg.SuccinctRoles
		a.name = fmt.Sprintf("%s v%d, hashed bins %s-*", d.parent, d.version, sr.NamePrefix)
		a.keyIDs, a.threshold = sr.KeyIDs, sr.Threshold
	}
	parent := &metadata.Metadata[metadata.TargetsType]{Signed: metadata.TargetsType{Delegations: d.deleg}}
	a.gate = func(md any) error { return parent.VerifyDelegate(child, md) }
	return a
}

// covers reports whether this delegation trusts child for path.
func (d delegator) covers(child, path string) bool {
	if d.role != nil {
		ok, err := d.role.IsDelegatedPath(path)
		return err == nil && ok
	}
	rs := d.deleg.SuccinctRoles.GetRolesForTarget(path)
	return len(rs) == 1 && rs[0].Name == child
}

func (d delegator) patterns(child, path string) string {
	if d.role == nil {
		return fmt.Sprintf("hashed bins %s-*: the path belongs to bin %s", d.deleg.SuccinctRoles.NamePrefix, d.deleg.SuccinctRoles.GetRolesForTarget(path)[0].Name)
	}
	if len(d.role.Paths) > 0 {
		return fmt.Sprintf("paths %q", d.role.Paths)
	}
	return fmt.Sprintf("path_hash_prefixes %q", d.role.PathHashPrefixes)
}

// delegEntry caches the delegations of one role at one version; published
// versions never change, so the cache is safe across replicas.
type delegEntry struct {
	version int64
	deleg   *metadata.Delegations
}

// metaVersion returns the version of role in snapshot, 0 if absent.
func metaVersion(snap *metadata.Metadata[metadata.SnapshotType], role string) int64 {
	if snap == nil {
		return 0
	}
	if m := snap.Signed.Meta[role+".json"]; m != nil {
		return m.Version
	}
	return 0
}

// delegationsOf returns the delegations of the published version of role
// (nil if the role is unpublished or delegates nothing).
func (s *Service) delegationsOf(ctx context.Context, repo string, snap *metadata.Metadata[metadata.SnapshotType], role string) (*metadata.Delegations, error) {
	v := metaVersion(snap, role)
	if v == 0 {
		return nil, nil
	}
	key := repo + "\x00" + role
	s.mu.Lock()
	e, ok := s.dcache[key]
	s.mu.Unlock()
	if ok && e.version == v {
		return e.deleg, nil
	}
	data, err := s.st.Get(ctx, repo, role, v)
	if err != nil {
		return nil, fmt.Errorf("load %s v%d: %w", role, v, err)
	}
	if !bytes.Contains(data, []byte(`"delegations"`)) && !bytes.Contains(data, []byte(`\u`)) {
		// The key cannot occur, not even spelt with escapes: nothing to
		// parse (most bins delegate nothing).
		s.remember(repo, role, v, nil)
		return nil, nil
	}
	var doc struct {
		Signed struct {
			Delegations *metadata.Delegations `json:"delegations"`
		} `json:"signed"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse stored %s v%d: %w", role, v, err)
	}
	s.remember(repo, role, v, doc.Signed.Delegations)
	return doc.Signed.Delegations, nil
}

func (s *Service) remember(repo, role string, v int64, d *metadata.Delegations) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.dcache) >= maxCachedRoles {
		clear(s.dcache)
	}
	s.dcache[repo+"\x00"+role] = delegEntry{version: v, deleg: d}
}

// maxCachedRoles bounds the delegation cache.
const maxCachedRoles = 1 << 16

// delegators finds every published targets role that delegates to role,
// walking the delegation graph from the top-level targets.
func (s *Service) delegators(ctx context.Context, repo string, snap *metadata.Metadata[metadata.SnapshotType], role string) ([]delegator, error) {
	var out []delegator
	if metaVersion(snap, metadata.TARGETS) == 0 {
		return nil, nil
	}
	visited := map[string]bool{metadata.TARGETS: true}
	stack := []string{metadata.TARGETS}
	var published []string // lazily: published role names, for succinct children
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		d, err := s.delegationsOf(ctx, repo, snap, p)
		if err != nil {
			return nil, err
		}
		if d == nil {
			continue
		}
		pv := metaVersion(snap, p)
		push := func(name string) {
			if !visited[name] && metaVersion(snap, name) > 0 {
				visited[name] = true
				stack = append(stack, name)
			}
		}
		for i := range d.Roles {
			r := &d.Roles[i]
			if r.Name == role {
				out = append(out, delegator{parent: p, version: pv, deleg: d, role: r})
			}
			push(r.Name)
		}
		if sr := d.SuccinctRoles; sr != nil && d.Roles == nil {
			if sr.IsDelegatedRole(role) {
				out = append(out, delegator{parent: p, version: pv, deleg: d})
			}
			if published == nil {
				for name := range snap.Signed.Meta {
					published = append(published, strings.TrimSuffix(name, ".json"))
				}
				sort.Strings(published)
			}
			for _, name := range published {
				if strings.HasPrefix(name, sr.NamePrefix+"-") && sr.IsDelegatedRole(name) {
					push(name)
				}
			}
		}
	}
	return out, nil
}

// reaches reports whether a client looking for path walks the delegation
// graph (pre-order, depth first, honouring terminating delegations, at most
// maxDelegations roles: go-tuf's updater walk) into role.
func (s *Service) reaches(ctx context.Context, repo string, snap *metadata.Metadata[metadata.SnapshotType], role, path string) (bool, error) {
	type item struct{ name string }
	stack := []item{{metadata.TARGETS}}
	visited := map[string]bool{}
	for len(visited) <= s.cfg.MaxDelegations && len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if visited[it.name] {
			continue
		}
		if it.name == role {
			return true, nil
		}
		visited[it.name] = true
		d, err := s.delegationsOf(ctx, repo, snap, it.name)
		if err != nil {
			return false, err
		}
		if d == nil {
			continue
		}
		var children []item
		for _, r := range d.GetRolesForTarget(path) {
			children = append(children, item{r.Name})
			if r.Terminating {
				stack = stack[:0]
				break
			}
		}
		slices.Reverse(children)
		stack = append(stack, children...)
	}
	return false, nil
}

// checkPaths checks that clients reach role for every target path in t.
func (s *Service) checkPaths(ctx context.Context, repo string, snap *metadata.Metadata[metadata.SnapshotType], role string, t *metadata.TargetsType, parents []delegator) error {
	names := make([]string, 0, len(t.Targets))
	for name := range t.Targets {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fld := fmt.Sprintf("signed.targets[%q]", trunc(name))
		var pats []string
		covered := false
		for _, d := range parents {
			if d.covers(role, name) {
				covered = true
			} else {
				pats = append(pats, fmt.Sprintf("%s delegates %s", d.parent, d.patterns(role, name)))
			}
		}
		if !covered || len(pats) > 0 {
			return newFault(ErrPathNotDelegated, fld, fmt.Sprintf("outside the paths delegated to %s (%s)", role, strings.Join(pats, "; ")))
		}
		ok, err := s.reaches(ctx, repo, snap, role, name)
		if err != nil {
			return err
		}
		if !ok {
			return newFault(ErrPathNotDelegated, fld, fmt.Sprintf(
				"clients never reach %s for this path: a terminating delegation earlier in the search order claims it, or the walk passes the %d-role limit", role, s.cfg.MaxDelegations))
		}
	}
	return nil
}

// isNotFound reports whether a State error means "absent".
func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
