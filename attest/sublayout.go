package attest

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	intoto "github.com/in-toto/in-toto-golang/in_toto"

	"github.com/trustd-dev/trustd/internal/inputerr"
)

// MaxSublayoutDepth bounds how deeply sublayouts nest below a layout.
const MaxSublayoutDepth = 4

// checkSublayout refuses a sublayout trustd cannot verify safely. Its
// inspections would be commands that in-toto-golang runs while resolving
// it, and trustd runs no commands; its step names become file names when
// its links are laid out for in-toto-golang, so they must be plain names.
func checkSublayout(l intoto.Layout) error {
	if len(l.Inspect) > 0 {
		return inputerr.New(opLink, "signed.inspect", ErrInvalidLayout,
			fmt.Sprintf("a sublayout may not have inspections (it has %d): resolving it would run their commands, and trustd runs none", len(l.Inspect)))
	}
	for i, st := range l.Steps {
		if !plainName(st.Name) {
			return inputerr.New(opLink, fmt.Sprintf("signed.steps[%d].name", i), ErrInvalidLayout,
				fmt.Sprintf("%q: a sublayout's step names are letters, digits, '.', '_' and '-'", st.Name))
		}
	}
	return nil
}

// plainName reports whether a step name is safe as a file name and a glob
// pattern: letters, digits, '.', '_', '-', not "." or "..".
func plainName(name string) bool {
	if name == "" || name == "." || name == ".." || len(name) > 255 {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// isSublayout reports whether a step's link is a sublayout.
func isSublayout(md intoto.Metadata) bool {
	_, ok := md.GetPayload().(intoto.Layout)
	return ok
}

// resolveSublayouts replaces the sublayouts among a step's verified links
// by their summary links with in-toto-golang's VerifySublayouts, which
// verifies each (signature by the functionary, expiry, its own steps'
// links, thresholds and artifact rules, recursively) from a directory of
// link files: the links submitted for each sublayout, read from the log,
// are laid out in a private temporary directory the way in-toto expects
// them (STEP.KEYID8/STEP.KEYID8.link).
func (s *Service) resolveSublayouts(ctx context.Context, layout intoto.Layout, step intoto.Step, links map[string]intoto.Metadata, seqs map[string]int64) (map[string]intoto.Metadata, error) {
	dir, err := os.MkdirTemp("", "trustd-sublayouts-*")
	if err != nil {
		return nil, fmt.Errorf("attest: sublayouts: %w", err)
	}
	defer os.RemoveAll(dir)
	budget := MaxLayoutLinks
	for keyID, md := range links {
		if !isSublayout(md) {
			continue
		}
		if err := s.layOutLinks(ctx, filepath.Join(dir, fmt.Sprintf(intoto.SublayoutLinkDirFormat, step.Name, keyID)), seqs[keyID], 1, &budget); err != nil {
			return nil, err
		}
	}
	one := layout
	one.Steps = []intoto.Step{step}
	out, err := intoto.VerifySublayouts(one, map[string]map[string]intoto.Metadata{step.Name: links}, dir, nil, false)
	if err != nil {
		return nil, err
	}
	return out[step.Name], nil
}

// layOutLinks writes the links submitted for the (sub)layout at log entry
// seq into dir as in-toto names link files, and those of its own
// sublayouts below it, at most MaxSublayoutDepth deep and budget links in
// all. A sublayout with inspections is refused here too.
func (s *Service) layOutLinks(ctx context.Context, dir string, seq int64, depth int, budget *int) error {
	if depth > MaxSublayoutDepth {
		return fmt.Errorf("sublayouts nest more than %d deep", MaxSublayoutDepth)
	}
	sub, err := s.layout(ctx, seq)
	if err != nil {
		return err
	}
	if err := checkSublayout(sub); err != nil {
		return fmt.Errorf("sublayout %d: %w", seq, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("attest: sublayouts: %w", err)
	}
	links, err := s.store.LayoutLinks(ctx, seq, *budget+1)
	if err != nil {
		return fmt.Errorf("attest: links of sublayout %d: %w", seq, err)
	}
	if len(links) > *budget {
		return fmt.Errorf("a layout and its sublayouts have more than %d links; trustd verifies at most that many", MaxLayoutLinks)
	}
	*budget -= len(links)
	for _, l := range links {
		if !plainName(l.Step) || !hexID(l.KeyID) {
			return fmt.Errorf("sublayout %d: link %d: step %q, key %q: not a plain name and a hex key id", seq, l.Seq, l.Step, l.KeyID)
		}
		rec, err := s.log.Get(ctx, l.Seq)
		if err != nil {
			return fmt.Errorf("attest: link %d: %w", l.Seq, err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf(intoto.LinkNameFormat, l.Step, l.KeyID)), rec.Envelope, 0o600); err != nil {
			return fmt.Errorf("attest: sublayouts: %w", err)
		}
		md, err := loadMetadata(rec.Envelope)
		if err != nil {
			return fmt.Errorf("attest: stored link %d: %w", l.Seq, err)
		}
		if isSublayout(md) {
			if err := s.layOutLinks(ctx, filepath.Join(dir, fmt.Sprintf(intoto.SublayoutLinkDirFormat, l.Step, l.KeyID)), l.Seq, depth+1, budget); err != nil {
				return err
			}
		}
	}
	return nil
}

// hexID reports whether id is a lowercase hex key id of at least 8 digits.
func hexID(id string) bool {
	_, err := hex.DecodeString(id)
	return err == nil && len(id) >= 8 && strings.ToLower(id) == id
}
