package evidence

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/policy"
)

// MaxDelegationDepth bounds the search for a delegated role below targets.
const MaxDelegationDepth = 8

type tufSource struct {
	s *Set
	o SourceOptions
}

// repo returns the evidence of repository name.
func (t tufSource) repo(name string) (*TUFRepo, error) {
	for i := range t.s.b.TUF {
		if t.s.b.TUF[i].Repo == name {
			return &t.s.b.TUF[i], nil
		}
	}
	return nil, fmt.Errorf("the evidence holds no metadata of TUF repository %s (not asked for)", name)
}

// files returns the repository's metadata files by name, with their bytes.
func (t tufSource) files(r *TUFRepo) (map[string][]byte, error) {
	out := make(map[string][]byte, len(r.Files))
	for _, f := range r.Files {
		e, ok := t.s.entries[f.Seq]
		if !ok {
			return nil, fmt.Errorf("TUF %s %s: log entry %d is not in the evidence", r.Repo, f.Name(), f.Seq)
		}
		out[f.Name()] = e.Envelope
	}
	return out, nil
}

// TUFRole returns a targets role as the evidence holds it: verified from
// the pinned root when the repository has one, else read as served (its
// bytes proven in the log).
func (t tufSource) TUFRole(_ context.Context, repo, role string) (*policy.TUFRole, error) {
	r, err := t.repo(repo)
	if err != nil {
		return nil, err
	}
	if why, ok := r.Missing[role]; ok {
		return nil, fmt.Errorf("repo %s role %s: %s", repo, role, why)
	}
	files, err := t.files(r)
	if err != nil {
		return nil, err
	}
	if root, ok := t.o.TUFRoots[repo]; ok {
		return t.verified(r, role, root, files)
	}
	var file TUFFile
	for _, f := range r.Files {
		if f.Role == role && f.Version > file.Version {
			file = f
		}
	}
	if file.Version == 0 {
		return nil, fmt.Errorf("the evidence holds no metadata of role %s of TUF repository %s", role, repo)
	}
	data := files[file.Name()]
	md, err := metadata.Targets().FromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("repo %s role %s: %w", repo, role, err)
	}
	return t.relied(r, roleOf(repo, role, md, file.Name(), data, false), file.Name())
}

// relied completes a role with what a verdict relying on it relies on:
// the keys that signed its metadata file (TUFSigners) and when the log
// first observed that file (its entry's recording time).
func (t tufSource) relied(r *TUFRepo, role *policy.TUFRole, file string) (*policy.TUFRole, error) {
	for _, f := range r.Files {
		if f.Name() != file {
			continue
		}
		e := t.s.entries[f.Seq] // files() checked every file's entry is held
		signers, err := TUFSigners(e.Envelope)
		if err != nil {
			return nil, fmt.Errorf("repo %s role %s: %w", r.Repo, role.Role, err)
		}
		role.Signers, role.Observed = signers, e.RecordedAt
		return role, nil
	}
	return nil, fmt.Errorf("repo %s role %s: the evidence holds no metadata file %s", r.Repo, role.Role, file)
}

// TUFSigners are the key ids of the signatures TUF metadata carries, each
// once: the keys a verdict relying on the role relies on. Every signature
// counts, not only the threshold go-tuf needed, so a revoked key among
// them is never outvoted; the server checks the revocation state of the
// same keys (evidencesvc), so the two agree by construction.
func TUFSigners(data []byte) ([]string, error) {
	var doc struct {
		Signatures []struct {
			KeyID string `json:"keyid"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not TUF metadata: %w", err)
	}
	var out []string
	for _, sig := range doc.Signatures {
		if sig.KeyID != "" && !slices.Contains(out, sig.KeyID) {
			out = append(out, sig.KeyID)
		}
	}
	return out, nil
}

// roleOf is a targets role as the evaluator reads it.
func roleOf(repo, role string, md *metadata.Metadata[metadata.TargetsType], file string, data []byte, verified bool) *policy.TUFRole {
	out := &policy.TUFRole{Repo: repo, Role: role, Version: md.Signed.Version, Expires: md.Signed.Expires, Targets: map[string][]digest.Digest{}, Verified: verified}
	if data != nil {
		out.Input = policy.Input{URI: "trustd:tuf/" + repo + "/" + file, Digest: sha256Of(data)}
	}
	for name, tg := range md.Signed.Targets {
		for alg, h := range tg.Hashes {
			if d, err := digest.Parse(alg + ":" + hex.EncodeToString(h)); err == nil {
				out.Targets[name] = append(out.Targets[name], d)
			} // an algorithm trustd does not know cannot match
		}
	}
	return out
}

// bundleFetcher serves go-tuf's downloads from the evidence's files; a
// file the evidence lacks is a 404, which ends root rotation.
type bundleFetcher struct {
	files map[string][]byte
}

func (f bundleFetcher) DownloadFile(urlPath string, maxLength int64, _ time.Duration) ([]byte, error) {
	name := urlPath[strings.LastIndex(urlPath, "/")+1:]
	data, ok := f.files[name]
	if !ok {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: http.StatusNotFound, URL: urlPath}
	}
	if int64(len(data)) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is longer than %d bytes", name, maxLength)}
	}
	return data, nil
}

// verified runs go-tuf's client workflow (root rotation, timestamp,
// snapshot, targets, delegations: every signature threshold, version and
// expiry) from the pinned root over the evidence's files and returns the
// role as verified.
func (t tufSource) verified(r *TUFRepo, role string, root []byte, files map[string][]byte) (*policy.TUFRole, error) {
	repo := r.Repo
	cfg, err := config.New("trustd:tuf/"+repo, root)
	if err != nil {
		return nil, err
	}
	cfg.Fetcher = bundleFetcher{files}
	cfg.DisableLocalCache = true
	up, err := updater.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("pinned root of %s: %w", repo, err)
	}
	if t.o.Now != nil {
		up.UnsafeSetRefTime(t.o.Now())
	}
	if err := up.Refresh(); err != nil {
		if errors.Is(err, &metadata.ErrExpiredMetadata{}) {
			return nil, fmt.Errorf("%w: %v", policy.ErrStaleEvidence, err)
		}
		return nil, fmt.Errorf("TUF update of %s: %w", repo, err)
	}
	trusted := up.GetTrustedMetadataSet()
	md, err := delegated(files, &trusted, role)
	if err != nil {
		return nil, err
	}
	file := fmt.Sprintf("%d.%s.json", md.Signed.Version, role)
	return t.relied(r, roleOf(repo, role, md, file, files[file], true), file)
}

// delegated returns the verified metadata of role, loading delegated roles
// breadth-first from the top-level targets, each checked against its
// delegator's keys and threshold and against the snapshot's version.
func delegated(files map[string][]byte, trusted *trustedmetadata.TrustedMetadata, role string) (*metadata.Metadata[metadata.TargetsType], error) {
	if md, ok := trusted.Targets[role]; ok {
		return md, nil
	}
	type item struct {
		name  string
		depth int
	}
	queue := []item{{metadata.TARGETS, 0}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		parent := trusted.Targets[it.name]
		if parent == nil || parent.Signed.Delegations == nil || it.depth >= MaxDelegationDepth {
			continue
		}
		for _, child := range DelegatedChildren(parent.Signed.Delegations, role) {
			if _, loaded := trusted.Targets[child]; !loaded {
				meta, ok := trusted.Snapshot.Signed.Meta[child+".json"]
				if !ok {
					continue
				}
				data, ok := files[fmt.Sprintf("%d.%s.json", meta.Version, child)]
				if !ok {
					continue // not on the way to role: the server left it out
				}
				if _, err := trusted.UpdateDelegatedTargets(data, child, it.name); err != nil {
					if errors.Is(err, &metadata.ErrExpiredMetadata{}) {
						return nil, fmt.Errorf("%w: role %s: %v", policy.ErrStaleEvidence, child, err)
					}
					return nil, fmt.Errorf("role %s: %w", child, err)
				}
			}
			if child == role {
				return trusted.Targets[role], nil
			}
			queue = append(queue, item{child, it.depth + 1})
		}
	}
	return nil, fmt.Errorf("role %s is not delegated in the repository", role)
}

// DelegatedChildren are the roles a delegating role's delegations name
// that a search for role descends into: every explicitly delegated role,
// and role itself when hashed bins (succinct roles) delegate it.
func DelegatedChildren(d *metadata.Delegations, role string) []string {
	var out []string
	for _, r := range d.Roles {
		out = append(out, r.Name)
	}
	if d.SuccinctRoles != nil && d.SuccinctRoles.IsDelegatedRole(role) {
		out = append(out, role)
	}
	return out
}
