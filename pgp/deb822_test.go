package pgp

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/internal/gpgtest"
)

func TestIsReleaseName(t *testing.T) {
	for name, want := range map[string]bool{
		"Release": true, "InRelease": true, "dists/stable/InRelease": true,
		"deb.debian.org_debian_dists_bookworm_InRelease": true, "x_Release": true,
		"Release.gpg": false, "SHA256SUMS": false, "MyRelease": false, "release": false, "InRelease.txt": false,
	} {
		if got := IsReleaseName(name); got != want {
			t.Errorf("IsReleaseName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseRelease(t *testing.T) {
	head := "Origin: Example\nSuite: stable\nDescription: multi\n line description\n"
	type want struct {
		entries  int
		problems []string // substrings of the problems, in line order
		err      string   // substring of the error
		kind     error
	}
	for _, tc := range []struct {
		name, text string
		want
	}{
		{"sha256 and sha512", head + "MD5Sum:\n d41d8cd98f00b204e9800998ecf8427e 0 a\nSHA256:\n " + h256 + " 0 main/a\n " + h256b + "   5 main/b\nSHA512:\n " + h512 + "    0 main/a\n",
			want{entries: 3}},
		{"crlf and field case", "Origin: x\r\nsha256:\r\n " + h256 + " 0 a\r\n", want{entries: 1}},
		{"trailing blank lines", "SHA256:\n " + h256 + " 0 a\n\n\n", want{entries: 1}},
		{"bad lines are problems", head + "SHA256:\n " + h256 + " 0 a\n " + h256[:60] + " 0 b\n zz" + h256[2:] + " 0 c\n " + h256 + " -1 d\n " + h256 + " 1x e\n " + h256 + " 0\n " + h256 + " 0 f g\n",
			want{entries: 1, problems: []string{"64 hex characters, not 60", "not hexadecimal", `size "-1"`, `size "1x"`, "got 2 fields", "got 4 fields"}}},
		{"repeat is indexed once", "SHA256:\n " + h256 + " 0 a\n " + h256 + " 0 a\n", want{entries: 1, problems: []string{"repeats line 2"}}},
		{"conflicting digests index nothing of the path", "SHA256:\n " + h256 + " 0 a\n " + h256b + " 0 a\n " + h256 + " 0 b\nSHA512:\n " + h512 + " 0 a\n",
			want{entries: 1, problems: []string{`"a" is listed on lines 2 and 3`, `"a" is listed on lines 2 and 3`, `"a" is listed on lines 2 and 3`}}},
		{"sizes differ between hashes", "SHA256:\n " + h256 + " 0 a\nSHA512:\n " + h512 + " 7 a\n", want{entries: 0, problems: []string{`"a" has size 0 on line 2 and 7 on line 4`, `"a" has size 0 on line 2 and 7 on line 4`}}},
		{"no hash field", head + "MD5Sum:\n d41d8cd98f00b204e9800998ecf8427e 0 a\n", want{err: "no SHA256 or SHA512 field", kind: ErrMalformed}},
		{"empty", "\n\n", want{err: "empty", kind: ErrMalformed}},
		{"second paragraph", "SHA256:\n " + h256 + " 0 a\n\nOrigin: x\n", want{err: "line 4: a second paragraph after the blank line 3", kind: ErrMalformed}},
		{"continuation first", " " + h256 + " 0 a\n", want{err: "line 1: a continuation line", kind: ErrMalformed}},
		{"not a field", "Origin: x\n" + h256 + "  a\n", want{err: "line 2: not a deb822 field", kind: ErrMalformed}},
		{"duplicate field", "SHA256:\n " + h256 + " 0 a\nsha256:\n", want{err: "line 3 (sha256): field sha256 repeats line 1", kind: ErrMalformed}},
		{"value on the hash field line", "SHA256: " + h256 + " 0 a\n", want{err: "line 1 (SHA256): the checksum list starts on the next line", kind: ErrMalformed}},
		{"comment", "# hi\nSHA256:\n", want{err: "line 1: a comment line", kind: ErrMalformed}},
		{"not utf-8", "Origin: \xff\nSHA256:\n", want{err: "line 1: not valid UTF-8", kind: ErrMalformed}},
		{"clearsigned", "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nSHA256:\n", want{err: "clearsigned InRelease", kind: ErrMalformed}},
		{"long value", "Origin: " + strings.Repeat("x", MaxReleaseFieldBytes+1) + "\n", want{err: "line 1 (Origin): a value of", kind: ErrTooLarge}},
		{"too many fields", func() string {
			var b strings.Builder
			for i := 0; i <= MaxReleaseFields; i++ {
				b.WriteString("F" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ": v\n")
			}
			return b.String()
		}(), want{err: "more than 256 fields", kind: ErrTooLarge}},
		{"too many lines", strings.Repeat("\n", MaxManifestLines+1), want{err: "lines, over the limit", kind: ErrTooLarge}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			entries, problems, err := ParseRelease([]byte(tc.text))
			if tc.err != "" {
				if !errors.Is(err, tc.kind) || !strings.Contains(err.Error(), tc.err) || entries != nil {
					t.Fatalf("ParseRelease = %d entries, %v; want %v saying %q", len(entries), err, tc.kind, tc.err)
				}
				return
			}
			if err != nil || len(entries) != tc.entries || len(problems) != len(tc.problems) {
				t.Fatalf("ParseRelease = %+v, problems %v, %v; want %d entries, %d problems", entries, problems, err, tc.entries, len(tc.problems))
			}
			for i, p := range problems {
				if !strings.Contains(p.String(), tc.problems[i]) {
					t.Errorf("problem %d = %s, want %q", i, p, tc.problems[i])
				}
			}
			for _, e := range entries {
				if !e.HasSize || e.Name == "" || (e.Digest.Algorithm() != digest.SHA256 && e.Digest.Algorithm() != digest.SHA512) {
					t.Errorf("entry %+v", e)
				}
			}
		})
	}
}

// TestDebianInRelease verifies a real Debian InRelease file (bookworm
// security, as apt fetched it) with the Debian archive keys that signed it
// (from debian-archive-keyring) and indexes its SHA256 section.
func TestDebianInRelease(t *testing.T) {
	signed := fixture(t, "debian/bookworm-security_InRelease")
	signers := 0
	for _, k := range []string{"debian/debian-archive-bookworm-security-automatic.gpg", "debian/debian-archive-bullseye-security-automatic.gpg"} {
		cert := fixtureCert(t, k)
		text, info, err := VerifyCleartext(cert, signed)
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		signers++
		if info.Primary != cert.Fingerprint {
			t.Errorf("signed by %+v", info)
		}
		entries, problems, err := ParseManifestFile("deb.debian.org_debian-security_dists_bookworm-security_InRelease", text)
		if err != nil || len(problems) != 0 || len(entries) != strings.Count(string(text), "\n ") {
			t.Fatalf("ParseManifestFile: %d entries, problems %v, %v", len(entries), problems, err)
		}
		found := false
		for _, e := range entries {
			if e.Name == "main/binary-amd64/Packages.xz" && e.Digest.Algorithm() == digest.SHA256 && e.Size > 0 {
				found = true
			}
		}
		if !found {
			t.Errorf("no SHA256 entry for main/binary-amd64/Packages.xz")
		}
	}
	if signers != 2 {
		t.Errorf("%d signers", signers)
	}
}

// TestAptFtparchiveRelease makes a repository's Release file with
// apt-ftparchive, signs it with gpg as InRelease and as Release +
// Release.gpg in a throwaway GNUPGHOME, and checks both verify and index
// every path under SHA256 and SHA512 (MD5Sum and SHA1 are not indexed).
func TestAptFtparchiveRelease(t *testing.T) {
	if _, err := exec.LookPath("apt-ftparchive"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("apt-ftparchive is not installed; scripts/test-deps.sh installs apt-utils")
		}
		t.Skip("apt-ftparchive not installed (apt-utils)")
	}
	g := gpgtest.New(t)
	g.Run(nil, "--quick-gen-key", "Archive <archive@example.org>", "ed25519", "cert,sign", "0")
	fpr := g.Fingerprints("archive@example.org")[0]
	cert, err := ParseCertificate(g.Run(nil, "--armor", "--export", fpr))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{"main/binary-amd64/Packages": "Package: hello\nVersion: 1\n\n", "main/source/Sources": "", "main/i18n/Translation-en": "Package: hello\n"}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("apt-ftparchive", "-o", "APT::FTPArchive::Release::Suite=stable", "release", ".")
	cmd.Dir = dir
	release, err := cmd.Output()
	if err != nil {
		t.Fatalf("apt-ftparchive release: %v", err)
	}
	rel := filepath.Join(t.TempDir(), "Release")
	if err := os.WriteFile(rel, release, 0o644); err != nil {
		t.Fatal(err)
	}
	check := func(what string, text []byte) {
		t.Helper()
		entries, problems, err := ParseManifestFile("Release", text)
		if err != nil || len(problems) != 0 || len(entries) != 2*len(files) {
			t.Fatalf("%s: %d entries, problems %v, %v\n%s", what, len(entries), problems, err, text)
		}
		for _, e := range entries {
			if _, ok := files[e.Name]; !ok || e.Size != int64(len(files[e.Name])) {
				t.Errorf("%s: entry %+v", what, e)
			}
		}
	}
	sig := g.Run(nil, "--local-user", fpr, "--armor", "--detach-sign", "--output", "-", rel)
	if _, err := VerifyDetached(cert, release, sig); err != nil {
		t.Fatalf("Release.gpg: %v", err)
	}
	check("Release", release)
	text, _, err := VerifyCleartext(cert, g.Run(nil, "--local-user", fpr, "--clearsign", "--output", "-", rel))
	if err != nil {
		t.Fatalf("InRelease: %v", err)
	}
	check("InRelease", text)
}
