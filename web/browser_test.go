package web_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/trustd-dev/trustd/internal/teststore"
)

// chromium finds the browser; without one the browser test fails under CI
// (CI=true, where scripts/test-deps.sh installs it) and skips elsewhere.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (scripts/test-deps.sh installs it): the web view's browser test cannot run")
	}
	t.Skip("chromium is not installed; run scripts/test-deps.sh to run the web view's browser test")
	return ""
}

// TestBrowser drives headless Chromium through the view as a person would:
// the search box, a digest page with every kind of evidence, a revoked
// artifact, a key page and a TUF repository page. It asserts what is
// shown (text, the status colour class, the chart), that every link on
// each page answers 200, and that none of the payloads the fixture put in
// statements ran (window.__pwned stays unset). Screenshots are saved in
// the test's temp dir (and in $TRUSTD_WEB_SHOTS when set).
func TestBrowser(t *testing.T) {
	bin := chromium(t)
	f := newFixture(t, teststore.Backends()[0].Open(t))
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.WindowSize(1280, 1600),
		chromedp.Flag("disable-dev-shm-usage", true))
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox)
	}
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	shots := t.TempDir()

	shot := func(t *testing.T, name string) {
		t.Helper()
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		for _, dir := range []string{shots, os.Getenv("TRUSTD_WEB_SHOTS")} {
			if dir == "" {
				continue
			}
			if err := os.WriteFile(filepath.Join(dir, name+".png"), buf, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	// check asserts what every page must hold: no payload ran, and every
	// link resolves.
	check := func(t *testing.T) {
		t.Helper()
		pwned, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__pwned !== undefined`))
		if err != nil {
			t.Fatal(err)
		}
		links, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('a[href]')).map(a => a.href)`))
		if err != nil {
			t.Fatal(err)
		}
		if pwned {
			t.Error("a payload from a statement ran in the page (window.__pwned is set)")
		}
		seen := map[string]bool{}
		for _, l := range links {
			if seen[l] || !strings.HasPrefix(l, f.srv.URL) {
				if !seen[l] && !strings.HasPrefix(l, f.srv.URL) {
					t.Errorf("link %s leaves the server", l)
				}
				continue
			}
			seen[l] = true
			resp, err := http.Get(l)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("link %s: %d, want 200", l, resp.StatusCode)
			}
		}
		if len(seen) == 0 {
			t.Error("the page has no link")
		}
	}
	text := func(t *testing.T, sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	class := func(t *testing.T, sel string) string {
		t.Helper()
		a, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(sel), "class"))
		if err != nil {
			t.Fatalf("class of %s: %v", sel, err)
		}
		return a.Value
	}

	t.Run("search to a digest page with every kind of evidence", func(t *testing.T) {
		if err := chromedp.Do(ctx,
			chromedp.Navigate(f.srv.URL+"/"),
			chromedp.WaitVisible(chromedp.CSS(`#q`)),
			chromedp.SendKeys(chromedp.CSS(`#q`), f.a256.Hex()),
			chromedp.Click(chromedp.CSS(`main form button`)),
			chromedp.WaitVisible(chromedp.CSS(`section.verdict`)),
		); err != nil {
			t.Fatal(err)
		}
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err != nil {
			t.Fatal(err)
		}
		circles, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('svg.chart circle').length`))
		if err != nil {
			t.Fatal(err)
		}
		rows, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#facts tbody tr.fact').length`))
		if err != nil {
			t.Fatal(err)
		}
		if loc != f.srv.URL+"/d/"+f.a256.String() {
			t.Errorf("the search landed on %s, want the digest's page", loc)
		}
		if c := class(t, "section.verdict"); !strings.Contains(c, "status-valid") {
			t.Errorf("verdict class %q, want status-valid", c)
		}
		if s := text(t, ".verdict .status-word"); s != "Published" {
			t.Errorf("verdict %q, want Published", s)
		}
		if circles < 3 {
			t.Errorf("the chart shows %d votes, want 3", circles)
		}
		if rows < 5 {
			t.Errorf("%d facts shown, want at least 5 (statement, provenance, TUF targets, votes)", rows)
		}
		for sel, want := range map[string][]string{
			"#digests":     {f.a512.String(), "statement"},
			"#publishers":  {"acme/app", "app.tar", "OpenPGP manifests", "line app.tar", f.pgp[:16], "https://slsa.dev/provenance/v1", "builderId", "<script>window.__pwned=1</script>"},
			"#reputation":  {"quality", "trust", "works <script>", "thanks <script>", "unsigned source"},
			"#revocations": {"retired", f.retired},
			"#locations":   {"authoritative", "https://downloads.example.com/app.tar"},
		} {
			got := text(t, sel)
			for _, w := range want {
				if !strings.Contains(got, w) {
					t.Errorf("%s shows %q; want it to show %q", sel, got, w)
				}
			}
		}
		shot(t, "digest")
		check(t)
	})
	t.Run("a bad search names the fault", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/search?q=sha256:nothex"), chromedp.WaitVisible(chromedp.CSS(`.message`))); err != nil {
			t.Fatal(err)
		}
		if s := text(t, ".message"); !strings.Contains(s, "sha256:nothex") {
			t.Errorf("error page says %q; want the input named", s)
		}
		check(t)
	})
	t.Run("revoked artifact", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/d/"+f.b256.String()), chromedp.WaitVisible(chromedp.CSS(`section.verdict`))); err != nil {
			t.Fatal(err)
		}
		if c := class(t, "section.verdict"); !strings.Contains(c, "status-revoked") {
			t.Errorf("verdict class %q, want status-revoked", c)
		}
		if s := text(t, "section.verdict"); !strings.Contains(s, "Revoked") || !strings.Contains(s, "malicious") {
			t.Errorf("verdict %q; want Revoked, why (malicious) and by whom", s)
		}
		shot(t, "revoked")
		check(t)
	})
	t.Run("artifact flooded with a stranger's alias claims", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/d/"+f.c256.String()), chromedp.WaitVisible(chromedp.CSS(`#digests`))); err != nil {
			t.Fatal(err)
		}
		if s := text(t, "#digests"); !strings.Contains(s, "2 more alias claims not shown") {
			t.Errorf("digests section %q; want it to say how many claims it left out", s[max(0, len(s)-300):])
		}
		if c := class(t, "section.verdict"); !strings.Contains(c, "status-unvouched") {
			t.Errorf("verdict class %q of an artifact only a stranger signed for; want status-unvouched", c)
		}
		if s := text(t, ".verdict .status-word"); s != "No publisher" {
			t.Errorf("verdict %q of an artifact only a stranger signed for; want No publisher", s)
		}
		shot(t, "flooded")
		check(t)
	})
	t.Run("key page", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/k/"+f.publisher), chromedp.WaitVisible(chromedp.CSS(`#signed`))); err != nil {
			t.Fatal(err)
		}
		if s := text(t, "#signed"); !strings.Contains(s, "https://slsa.dev/provenance/v1") {
			t.Errorf("what the key signed: %q; want its provenance", s)
		}
		if c := class(t, "section.verdict"); !strings.Contains(c, "status-valid") {
			t.Errorf("key status class %q, want status-valid", c)
		}
		shot(t, "key")
		check(t)
	})
	t.Run("retired key page", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/k/"+f.retired), chromedp.WaitVisible(chromedp.CSS(`#history`))); err != nil {
			t.Fatal(err)
		}
		if c := class(t, "section.verdict"); !strings.Contains(c, "status-superseded") {
			t.Errorf("retired key class %q, want status-superseded", c)
		}
		if s := text(t, "#history"); !strings.Contains(s, "retired") || !strings.Contains(s, `rotated "'><img`) {
			t.Errorf("history: %q; want the retirement with its comment, inert", s)
		}
		shot(t, "key-retired")
		check(t)
	})
	t.Run("OpenPGP key page", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/k/"+f.pgp), chromedp.WaitVisible(chromedp.CSS(`#pgp`))); err != nil {
			t.Fatal(err)
		}
		if s := text(t, "#pgp .uid"); !strings.Contains(s, "Mallory <script>window.__pwned=1</script>") {
			t.Errorf("user id shown as %q; want the text as written, inert", s)
		}
		check(t)
	})
	t.Run("TUF repository page", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/tuf-repo/"+f.repo), chromedp.WaitVisible(chromedp.CSS(`#pending`))); err != nil {
			t.Fatal(err)
		}
		if s := text(t, "#roles"); !strings.Contains(s, "targets") || !strings.Contains(s, "timestamp") {
			t.Errorf("roles: %q", s)
		}
		if s := text(t, "#pending .missing"); !strings.Contains(s, f.missing[:16]) {
			t.Errorf("still must sign: %q; want %s", s, f.missing)
		}
		shot(t, "tuf")
		check(t)
	})
	t.Run("log page", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/log"), chromedp.WaitVisible(chromedp.CSS(`#entries`))); err != nil {
			t.Fatal(err)
		}
		if s := text(t, "#checkpoint"); !strings.Contains(s, "web-test-log") {
			t.Errorf("checkpoint: %q", s)
		}
		shot(t, "log")
		check(t)
	})
}
