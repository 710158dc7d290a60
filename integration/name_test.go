package integration_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/trustd-dev/trustd/internal/testpg"
)

// namePolicy is the README's deploy.yaml: a fresh token decides alone;
// otherwise the TUF target named by the tag asked for (acme/app:TAG, the
// default rule) must list the bytes, and nothing involved be revoked.
const namePolicy = `apiVersion: trustd.dev/policy/v1
policies:
  - name: production
    require:
      any:
        - token: {maxAge: 1h}
        - all:
            - name: {tuf: {repo: acme/images}}
            - revocation: {}
`

// nameVerdict is a verdict with its whole requirement tree.
type nameVerdict struct {
	Outcome string     `json:"outcome"`
	Result  nameResult `json:"result"`
}

type nameResult struct {
	Kind     string       `json:"kind"`
	Outcome  string       `json:"outcome"`
	Reason   string       `json:"reason"`
	Detail   string       `json:"detail"`
	Children []nameResult `json:"children"`
}

// leaves lists kind:REASON of every failed or undecided leaf.
func (r nameResult) leaves() []string {
	if len(r.Children) == 0 {
		if r.Outcome == "pass" {
			return nil
		}
		return []string{r.Kind + ":" + r.Reason}
	}
	var out []string
	for _, c := range r.Children {
		out = append(out, c.leaves()...)
	}
	return out
}

// TestNameBoundToDigest: a registry that points a tag at an older image
// that is still validly signed (its TUF target, its token) must not pass
// a deploy that asks for that tag, online or offline; the tag the image
// was signed under still passes.
func TestNameBoundToDigest(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) { nameBoundToDigest(t, backend) })
	}
}

func nameBoundToDigest(t *testing.T, backend string) {
	work := t.TempDir()
	policyFile := filepath.Join(work, "deploy.yaml")
	if err := os.WriteFile(policyFile, []byte(namePolicy), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--data-dir", filepath.Join(work, "data"), "--token-policy", policyFile}
	if backend == "postgres" {
		args = append(args, "--db", testpg.URL(t))
	}
	d := startTrustd(t, args...)
	reg := startRegistry(t)
	ctl := func(args ...string) result { t.Helper(); return trustctl(t, d.grpcAddr, args...) }
	must := func(r result, what string) result { t.Helper(); return mustSucceed(t, r, what) }

	rootKey, targetsKey := filepath.Join(work, "root.pem"), filepath.Join(work, "targets.pem")
	for _, k := range []string{rootKey, targetsKey} {
		must(ctl("key", "generate", "--out", k), "key generate")
	}
	must(ctl("tuf", "init", "acme/images", "--root-key", rootKey, "--root-threshold", "1",
		"--targets-key", targetsKey+".pub", "--targets-threshold", "1"), "tuf init")
	tokenKey := filepath.Join(work, "token.pub")
	must(ctl("token", "key", "--out", tokenKey), "token key")

	// Two releases, each pushed under its tag, signed as the TUF target
	// the rule names (registry/acme/app:TAG → acme/app:TAG), with a token
	// attached.
	push := func(ref string, img v1.Image) {
		t.Helper()
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.Write(r, img); err != nil {
			t.Fatal(err)
		}
	}
	imgs := map[string]v1.Image{}
	digests := map[string]string{}
	for _, tag := range []string{"1", "2"} {
		img, err := random.Image(2048, 1)
		if err != nil {
			t.Fatal(err)
		}
		ref := reg.host + "/acme/app:" + tag
		push(ref, img)
		dg, _ := img.Digest()
		imgs[tag], digests[tag] = img, dg.String()
		must(ctl("sign", ref, "--repo", "acme/images", "--name", "acme/app:"+tag, "--key", targetsKey), "sign "+tag)
		r := must(ctl("token", "issue", ref, "--policy", "production", "--attach", "-o", "json"), "token issue "+tag)
		var issued struct {
			Issued   bool   `json:"issued"`
			Resource string `json:"resource"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &issued); err != nil || !issued.Issued || issued.Resource != "oci://"+ref+"@"+digests[tag] {
			t.Fatalf("token issue %s: %v %+v", tag, err, issued)
		}
	}

	const closed = "127.0.0.1:1"
	verify := func(ref string, offline bool) (result, nameVerdict) {
		t.Helper()
		server, extra := d.grpcAddr, []string(nil)
		if offline {
			server, extra = closed, []string{"--offline", "--token-key", tokenKey, "--cache", filepath.Join(work, "cache")}
		}
		r := trustctl(t, server, append([]string{"verify", ref, "--policy", policyFile, "-o", "json"}, extra...)...)
		var v nameVerdict
		if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
			t.Fatalf("verify %s: not JSON (exit %d): %v\n%s\n%s", ref, r.code, err, r.stdout, r.stderr)
		}
		return r, v
	}
	passes := func(ref, when string) {
		t.Helper()
		for _, offline := range []bool{false, true} {
			if r, v := verify(ref, offline); r.code != 0 || v.Outcome != "pass" {
				t.Errorf("%s: verify %s (offline %v): exit %d %s %v\n%s", when, ref, offline, r.code, v.Outcome, v.Result.leaves(), r.stderr)
			}
		}
	}
	for _, tag := range []string{"1", "2"} {
		passes(reg.host+"/acme/app:"+tag, "before the retag")
	}

	// The registry now serves release 1, still validly signed (target
	// acme/app:1, its token), under tag 2.
	push(reg.host+"/acme/app:2", imgs["1"])
	retagged := reg.host + "/acme/app:2"
	for _, tc := range []struct {
		offline bool
		want    []string
	}{
		// Online both branches say why: the token is for acme/app:1, and
		// target acme/app:2 lists other bytes than these.
		{false, []string{"token:NAME_MISMATCH", "name:NAME_MISMATCH"}},
		// Offline the token alone decides, and it names tag 1 (no
		// revocation list was synced).
		{true, []string{"token:NAME_MISMATCH", "name:OFFLINE", "revocation:EVIDENCE_UNAVAILABLE"}},
	} {
		r, v := verify(retagged, tc.offline)
		if got := v.Result.leaves(); r.code != 1 || v.Outcome != "fail" || !slices.Equal(got, tc.want) || !strings.Contains(r.stderr, "NAME_MISMATCH") {
			t.Errorf("retagged %s (offline %v): exit %d %s %v, want exit 1 with %v\n%s%s", retagged, tc.offline, r.code, v.Outcome, got, tc.want, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, reg.host+"/acme/app:1@"+digests["1"]+" does not bind "+reg.host+"/acme/app:2@"+digests["1"]+" (other tag)") {
			t.Errorf("the token's refusal does not name both tags:\n%s", r.stdout)
		}
	}
	// People read the same.
	r := trustctl(t, d.grpcAddr, "verify", retagged, "--policy", policyFile)
	if r.code != 1 || !strings.Contains(r.stdout, "✗ name [NAME_MISMATCH]: "+retagged+"@"+digests["1"]+" asks for target acme/app:2, but the bytes are target acme/app:1") {
		t.Errorf("text verdict: exit %d\n%s", r.code, r.stdout)
	}
	// Nor does trustd sign a token for the retagged name.
	if r := ctl("token", "issue", retagged, "--policy", "production", "-o", "json"); r.code != 1 || !strings.Contains(r.stdout, "NAME_MISMATCH") {
		t.Errorf("token issue for the retagged image: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// The correct tag still passes, and so does each release by digest (a
	// digest reference binds no tag, only the repository).
	passes(reg.host+"/acme/app:1", "after the retag")
	passes(reg.host+"/acme/app@"+digests["1"], "by digest")
	passes(reg.host+"/acme/app@"+digests["2"], "by digest")
}
