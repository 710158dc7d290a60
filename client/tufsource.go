package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/trustedmetadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/policy"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
)

// Bounds of the search for a delegated role.
const (
	maxDelegationDepth = 8
	maxRoleBytes       = 5 << 20
)

// TUFClient is the TUF evidence source of a verifier that pins TUF roots:
// for a repository with a pinned root it runs go-tuf's client workflow
// (root rotation, timestamp, snapshot, targets, delegations: every
// signature threshold, version and expiry) over the metadata trustd serves,
// and reports what the verified role lists. Repositories without a pinned
// root are read through Unpinned, if set, and refused otherwise.
type TUFClient struct {
	// GetMetadata fetches one metadata file (Client.TUF.GetMetadata).
	GetMetadata func(context.Context, *trustv1.GetMetadataRequest) (*trustv1.GetMetadataResponse, error)
	// Roots maps a repository name to its pinned root metadata (any
	// version the verifier trusts, typically 1.root.json).
	Roots map[string][]byte
	// Unpinned reads repositories that have no pinned root.
	Unpinned policy.TUFSource
	// Now is the reference time for expiry; nil means time.Now.
	Now func() time.Time
}

// rpcFetcher serves go-tuf's metadata downloads from GetMetadata; the
// "URL" is REPO/FILE.
type rpcFetcher struct {
	ctx   context.Context
	get   func(context.Context, *trustv1.GetMetadataRequest) (*trustv1.GetMetadataResponse, error)
	repo  string
	files map[string][]byte // what was downloaded, by file name
}

func (f *rpcFetcher) DownloadFile(urlPath string, maxLength int64, _ time.Duration) ([]byte, error) {
	name := urlPath[strings.LastIndex(urlPath, "/")+1:]
	resp, err := f.get(f.ctx, &trustv1.GetMetadataRequest{Repo: f.repo, Name: name})
	if status.Code(err) == codes.NotFound {
		return nil, &metadata.ErrDownloadHTTP{StatusCode: http.StatusNotFound, URL: urlPath}
	}
	if err != nil {
		return nil, err
	}
	if int64(len(resp.GetData())) > maxLength {
		return nil, &metadata.ErrDownloadLengthMismatch{Msg: fmt.Sprintf("%s is longer than %d bytes", name, maxLength)}
	}
	f.files[name] = resp.GetData()
	return resp.GetData(), nil
}

// TUFRole implements policy.TUFSource.
func (c *TUFClient) TUFRole(ctx context.Context, repo, role string) (*policy.TUFRole, error) {
	root, ok := c.Roots[repo]
	if !ok {
		if c.Unpinned != nil {
			return c.Unpinned.TUFRole(ctx, repo, role)
		}
		return nil, fmt.Errorf("no pinned TUF root for repository %s (--tuf-root %s=ROOT.json)", repo, repo)
	}
	cfg, err := config.New("trustd:tuf/"+repo, root)
	if err != nil {
		return nil, err
	}
	f := &rpcFetcher{ctx: ctx, get: c.GetMetadata, repo: repo, files: map[string][]byte{}}
	cfg.Fetcher = f
	cfg.DisableLocalCache = true
	up, err := updater.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("pinned root of %s: %w", repo, err)
	}
	if c.Now != nil {
		up.UnsafeSetRefTime(c.Now())
	}
	if err := up.Refresh(); err != nil {
		if errors.Is(err, &metadata.ErrExpiredMetadata{}) {
			return nil, fmt.Errorf("%w: %v", policy.ErrStaleEvidence, err)
		}
		return nil, fmt.Errorf("TUF update of %s: %w", repo, err)
	}
	trusted := up.GetTrustedMetadataSet()
	md, err := c.delegated(f, &trusted, role)
	if err != nil {
		return nil, err
	}
	out := &policy.TUFRole{Repo: repo, Role: role, Version: md.Signed.Version, Expires: md.Signed.Expires,
		Targets: map[string][]digest.Digest{}, Verified: true}
	file := fmt.Sprintf("%d.%s.json", md.Signed.Version, role)
	if data, ok := f.files[file]; ok {
		sum := sha256.Sum256(data)
		d, _ := digest.New(digest.SHA256, sum[:])
		out.Input = policy.Input{URI: "trustd:tuf/" + repo + "/" + file, Digest: d}
	}
	for name, t := range md.Signed.Targets {
		for alg, h := range t.Hashes {
			if d, err := digest.Parse(alg + ":" + hex.EncodeToString(h)); err == nil {
				out.Targets[name] = append(out.Targets[name], d)
			}
		}
	}
	return out, nil
}

// delegated returns the verified metadata of role, loading delegated roles
// breadth-first from the top-level targets, each checked against its
// delegator's keys and threshold and against the snapshot's version.
func (c *TUFClient) delegated(f *rpcFetcher, trusted *trustedmetadata.TrustedMetadata, role string) (*metadata.Metadata[metadata.TargetsType], error) {
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
		if parent == nil || parent.Signed.Delegations == nil || it.depth >= maxDelegationDepth {
			continue
		}
		var children []string
		d := parent.Signed.Delegations
		for _, r := range d.Roles {
			children = append(children, r.Name)
		}
		if d.SuccinctRoles != nil && d.SuccinctRoles.IsDelegatedRole(role) {
			children = append(children, role)
		}
		for _, child := range children {
			if _, loaded := trusted.Targets[child]; !loaded {
				meta, ok := trusted.Snapshot.Signed.Meta[child+".json"]
				if !ok {
					continue
				}
				data, err := f.DownloadFile(fmt.Sprintf("%d.%s.json", meta.Version, child), maxRoleBytes, 0)
				if err != nil {
					return nil, fmt.Errorf("role %s: %w", child, err)
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
