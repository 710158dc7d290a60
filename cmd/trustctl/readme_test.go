package main

import (
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	mdLink    = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdHeading = regexp.MustCompile(`(?m)^#{1,6} +(.+)$`)
	fence     = regexp.MustCompile("(?s)```.*?```")
)

// anchor is GitHub's anchor of a heading: lower case, punctuation but '-'
// and '_' dropped, spaces to '-'.
func anchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// TestREADMELinks: the README links only to files inside the repository
// (that exist) or to its own headings: no link leaves the repository
// (specifications are named, not linked).
func TestREADMELinks(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(repo, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := fence.ReplaceAllString(string(data), "")
	anchors := map[string]bool{}
	for _, m := range mdHeading.FindAllStringSubmatch(text, -1) {
		anchors[anchor(strings.ReplaceAll(m[1], "`", ""))] = true
	}
	links := mdLink.FindAllStringSubmatch(text, -1)
	if len(links) == 0 {
		t.Fatal("no links found: the pattern is broken")
	}
	for _, m := range links {
		link := m[1]
		u, err := url.Parse(link)
		if err != nil {
			t.Errorf("link %q: %v", link, err)
			continue
		}
		switch {
		case u.Scheme != "":
			t.Errorf("link %q: scheme %s", link, u.Scheme)
		case u.Path == "":
			if !anchors[u.Fragment] {
				t.Errorf("link %q names no heading of the README", link)
			}
		default:
			p := filepath.Join(repo, filepath.FromSlash(u.Path))
			if rel, err := filepath.Rel(repo, p); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
				t.Errorf("link %q points outside the repository", link)
			} else if _, err := os.Stat(p); err != nil {
				t.Errorf("link %q: %v", link, err)
			}
		}
	}
}

// TestREADMEStatesExitRule: the README's exit-code table says what
// trustctl --help says, line for line.
func TestREADMEStatesExitRule(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	readme := strings.Join(strings.Fields(string(data)), " ")
	for _, row := range strings.Split(exitHelp, "\n")[1:] {
		row = strings.TrimSpace(row)
		if row == "" {
			continue
		}
		if len(row) > 3 && row[0] >= '0' && row[0] <= '9' {
			row = row[1:]
		}
		// Each code's text starts on its line in the help; compare the
		// words of the line with the README's.
		if !strings.Contains(readme, strings.Join(strings.Fields(row), " ")) {
			t.Errorf("README lacks the exit rule's words %q", row)
		}
	}
}
