package integration_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/internal/testpg"
)

// TestSubjectCitations is issue 14's "wrong citations" through the real
// binaries, on both backends: `trustctl subject` (text and JSON) shows
// each fact once (an entry naming both digests directly; one naming only
// the sha512 alias through the claim and signer linking it), a TUF target
// against the targets role's version now (v4 after four publishes), a
// revocation citing its own log entry, and a reinstatement told apart
// from the revocation it undoes.
func TestSubjectCitations(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			work := t.TempDir()
			args := []string{"--data-dir", filepath.Join(work, "data")}
			if backend == "postgres" {
				args = append(args, "--db", testpg.URL(t), "--tuf-keys-dir", filepath.Join(work, "tuf-keys"))
			}
			d := startTrustd(t, args...)
			ctl := func(args ...string) result { t.Helper(); return trustctl(t, d.grpcAddr, args...) }
			must := func(r result, what string) result { t.Helper(); return mustSucceed(t, r, what) }
			write := func(name, body string) string {
				t.Helper()
				p := filepath.Join(work, name)
				if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
				return p
			}
			releaseKey, rootKey, targetsKey := filepath.Join(work, "release.pem"), filepath.Join(work, "root.pem"), filepath.Join(work, "targets.pem")
			release := genKey(t, releaseKey)
			genKey(t, rootKey)
			targets := genKey(t, targetsKey)
			must(ctl("key", "add", releaseKey+".pub", "--label", "release"), "key add")
			must(ctl("tuf", "init", "acme/app", "--root-key", rootKey, "--root-threshold", "1", "--targets-key", targetsKey+".pub", "--targets-threshold", "1"), "tuf init")

			artifact := write("app-1.0.tar", "app 1.0 bytes\n")
			sha256d := strings.Fields(must(ctl("digest", "-a", "sha256", artifact), "digest").stdout)[0]
			sha512d := strings.Fields(must(ctl("digest", "-a", "sha512", artifact), "digest").stdout)[0]
			pred := write("pred.json", `{"ok":true}`)
			seqOf := func(r result) uint64 {
				t.Helper()
				var out struct {
					Entry struct {
						Seq json.Number `json:"seq"`
					} `json:"entry"`
				}
				if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
					t.Fatalf("%v: %s", err, r.stdout)
				}
				n, err := out.Entry.Seq.Int64()
				if err != nil || n <= 0 {
					t.Fatalf("seq %q: %v", out.Entry.Seq, err)
				}
				return uint64(n)
			}
			// Both digests, then the sha512 alias alone.
			both := seqOf(must(ctl("statement", "sign", "--predicate-type", "https://example.com/test-result/v1", "--predicate", pred,
				"--artifact", artifact, "--key", releaseKey, "-o", "json"), "statement sign"))
			alone := seqOf(must(ctl("statement", "sign", "--predicate-type", "https://example.com/scan/v1", "--predicate", pred,
				"--subject", "app-1.0.tar="+sha512d, "--key", releaseKey, "-o", "json"), "statement sign of the alias"))
			// Four publishes of targets: the first lists the artifact.
			must(ctl("sign", artifact, "--repo", "acme/app", "--name", "app-1.0.tar", "--key", targetsKey), "sign 1.0")
			for _, v := range []string{"1.1", "1.2", "1.3"} {
				f := write("app-"+v+".tar", "app "+v+" bytes\n")
				must(ctl("sign", f, "--repo", "acme/app", "--name", "app-"+v+".tar", "--key", targetsKey), "sign "+v)
			}

			subject := func() (subjectJSON, string) {
				t.Helper()
				var s subjectJSON
				r := must(ctl("subject", sha256d, "-o", "json"), "subject -o json")
				if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
					t.Fatalf("subject -o json: %v\n%s", err, r.stdout)
				}
				return s, must(ctl("subject", sha256d), "subject").stdout
			}
			fact := func(s subjectJSON, seq uint64) factJSON {
				t.Helper()
				var found []factJSON
				for _, f := range s.Facts {
					if f.Seq == seq {
						found = append(found, f)
					}
				}
				if len(found) != 1 {
					t.Fatalf("fact %d appears %d times in the JSON, want once: %+v", seq, len(found), s.Facts)
				}
				return found[0]
			}
			lines := func(text string, seq uint64) []string {
				var out []string
				for _, l := range strings.Split(text, "\n") {
					if p := fmt.Sprintf("  #%d ", seq); strings.HasPrefix(l, p) && !strings.HasPrefix(l, p+"REVOKED:") {
						out = append(out, l)
					}
				}
				return out
			}

			s, text := subject()
			for _, f := range s.Facts {
				if f.Seq == 0 {
					t.Errorf("a fact cites log entry 0: %+v", f)
				}
				if n := len(lines(text, f.Seq)); n != 1 {
					t.Errorf("fact %d printed %d times, want once:\n%s", f.Seq, n, text)
				}
			}
			if f := fact(s, both); f.ViaAlias != nil || len(f.Digests) != 2 || f.Status != "valid" {
				t.Errorf("the entry naming both digests: %+v; want it direct, naming both, valid", f)
			}
			f := fact(s, alone)
			if f.ViaAlias == nil || f.ViaAlias.Digest != sha512d || len(f.ViaAlias.Claims) == 0 || f.ViaAlias.Claims[0].Seq == 0 ||
				len(f.ViaAlias.Claims[0].Signers) == 0 {
				t.Errorf("the entry naming the alias alone: %+v; want it via %s with the claim's log entry and signer", f, sha512d)
			}
			if l := lines(text, alone); len(l) != 1 || !strings.Contains(l[0], "[via alias "+sha512d+", claimed by ") || !strings.HasSuffix(l[0], ": valid") {
				t.Errorf("the alias-reached line: %q", l)
			}
			var tufFact *factJSON
			for i := range s.Facts {
				if s.Facts[i].TUF != nil && s.Facts[i].TUF.Role == "targets" {
					tufFact = &s.Facts[i]
				}
			}
			if tufFact == nil || tufFact.TUF.Version != 1 || tufFact.TUF.CurrentVersion != 4 || !tufFact.TUF.ListedNow || tufFact.TUF.Repo != "acme/app" {
				t.Fatalf("TUF fact: %+v; want targets v1 listing the artifact, v4 now, still listed", tufFact)
			}
			if l := lines(text, tufFact.Seq); len(l) != 1 || !strings.Contains(l[0], "TUF repo acme/app: target app-1.0.tar in role targets v4 (current; first listed in v1), signed by keys "+targets) {
				t.Errorf("TUF line: %q", l)
			}

			// Revoke the alias-reached statement, then reinstate it: the
			// revocation cites its own log entry, the reinstatement its
			// own, and the two are told apart.
			revokedAt := seqOf(must(ctl("revoke", "statement", fmt.Sprint(alone), "--reason", "withdrawn", "--key", releaseKey, "-o", "json"), "revoke statement"))
			s, text = subject()
			if f := fact(s, alone); f.Status != "revoked" || f.Revocation == nil || f.Revocation.Seq != revokedAt || f.Revocation.Action != "revoke" ||
				f.Revocation.Reason != "withdrawn" || len(f.Revocation.Revokers) != 1 || f.Revocation.Revokers[0].ID != release || f.Revocation.Revokers[0].Label != "release" {
				t.Errorf("after the revocation: %+v %+v; want revoked by %s (release) at log entry %d", f, f.Revocation, release, revokedAt)
			}
			if l := lines(text, alone); len(l) != 1 || !strings.Contains(l[0], ": REVOKED: statement:") || !strings.Contains(l[0], "by "+release+" (release)") ||
				!strings.HasSuffix(l[0], fmt.Sprintf("log entry %d", revokedAt)) {
				t.Errorf("revoked line: %q", l)
			}
			reinstatedAt := seqOf(must(ctl("revoke", "reinstate", "statement", fmt.Sprint(alone), "--key", releaseKey, "-o", "json"), "reinstate statement"))
			s, text = subject()
			if f := fact(s, alone); f.Status != "reinstated" || f.Revocation == nil || f.Revocation.Seq != reinstatedAt || f.Revocation.Action != "reinstate" {
				t.Errorf("after the reinstatement: %+v %+v; want reinstated at log entry %d", f, f.Revocation, reinstatedAt)
			}
			if l := lines(text, alone); len(l) != 1 || !strings.Contains(l[0], ": REINSTATED, counts (statement:") || strings.Contains(l[0], "REVOKED") ||
				!strings.Contains(l[0], fmt.Sprintf("log entry %d)", reinstatedAt)) {
				t.Errorf("reinstated line: %q", l)
			}
			if strings.Contains(text, "revoked evidence:") {
				t.Errorf("a reinstated fact is listed as revoked evidence:\n%s", text)
			}
		})
	}
}
