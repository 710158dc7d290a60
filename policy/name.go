package policy

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/trustd-dev/trustd/internal/inputerr"
	"github.com/trustd-dev/trustd/pgp"
	"github.com/trustd-dev/trustd/refname"
)

// The names a name requirement derives when its template is empty: an
// image registry.example/acme/app:1.4 is TUF target (or manifest line)
// "acme/app:1.4", a file dist/app-1.4.tar.gz is "app-1.4.tar.gz".
const (
	DefaultImageTemplate = "{repository}:{tag}"
	DefaultFileTemplate  = "{file}"
)

// maxTemplate bounds a name template.
const maxTemplate = 1024

// templateVars are the variables a name template may use.
var templateVars = []string{"registry", "repository", "tag", "file", "ref"}

// templatePart is a literal, or a variable when v is set.
type templatePart struct{ lit, v string }

// parseTemplate splits a name template into literals and variables.
func parseTemplate(t string) ([]templatePart, error) {
	if len(t) > maxTemplate {
		return nil, fmt.Errorf("longer than %d bytes", maxTemplate)
	}
	var parts []templatePart
	vars := 0
	for t != "" {
		i := strings.IndexAny(t, "{}")
		if i < 0 {
			parts = append(parts, templatePart{lit: t})
			break
		}
		if t[i] == '}' {
			return nil, errors.New("'}' without '{'")
		}
		if i > 0 {
			parts = append(parts, templatePart{lit: t[:i]})
		}
		v, rest, ok := strings.Cut(t[i+1:], "}")
		if !ok {
			return nil, errors.New("'{' without '}'")
		}
		if !slices.Contains(templateVars, v) {
			return nil, fmt.Errorf("{%s} is not a variable (want one of {%s})", v, strings.Join(templateVars, "}, {"))
		}
		parts = append(parts, templatePart{v: v})
		vars++
		t = rest
	}
	if vars == 0 {
		return nil, errors.New("names no variable, so it binds no reference: use tuf.target for a fixed target name")
	}
	return parts, nil
}

func (r *NameRequirement) check(fld string) error {
	bad := func(f, reason string) error { return inputerr.New(opParse, f, ErrInvalid, reason) }
	if (r.TUF == nil) == (r.PGP == nil) {
		return bad(fld, "want exactly one of tuf and pgp: the evidence that binds the name")
	}
	if r.Template != "" {
		if _, err := parseTemplate(r.Template); err != nil {
			return bad(fld+".template", fmt.Sprintf("%q %v", r.Template, err))
		}
	}
	if t := r.TUF; t != nil {
		if t.Repo == "" {
			return bad(fld+".tuf.repo", "required")
		}
		if t.Role == "" {
			t.Role = "targets"
		}
	}
	if p := r.PGP; p != nil {
		if len(p.Roots) == 0 {
			return bad(fld+".pgp.roots", "at least one pinned root fingerprint is required")
		}
		for i, root := range p.Roots {
			p.Roots[i] = strings.ToLower(strings.ReplaceAll(root, " ", ""))
			if !isFingerprint(p.Roots[i]) {
				return bad(fmt.Sprintf("%s.pgp.roots[%d]", fld, i), fmt.Sprintf("%q is not an OpenPGP fingerprint (40 or 64 hex digits)", root))
			}
		}
	}
	return nil
}

// BindsNames reports whether p has a name requirement anywhere in its
// tree: then a token that names nothing, or a reference that names
// nothing, cannot satisfy it either.
func (p *Policy) BindsNames() bool {
	var walk func(r *Requirement) bool
	walk = func(r *Requirement) bool {
		if r.Name != nil {
			return true
		}
		for _, l := range [][]Requirement{r.All, r.Any} {
			for i := range l {
				if walk(&l[i]) {
					return true
				}
			}
		}
		return false
	}
	return walk(&p.Require)
}

// escapeGlob quotes path.Match's special characters in s.
func escapeGlob(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[]\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// DeriveName fills in the requirement's template from the normalised
// reference n. It returns a path.Match pattern and the name as people
// read it: exact, except that a digest reference, which binds no tag,
// lets {tag} be any tag ("acme/app:*"). A variable the reference lacks
// (a {tag} for a file) is an error.
func (r *NameRequirement) DeriveName(n refname.Name) (pattern, shown string, err error) {
	t := r.Template
	if t == "" {
		t = DefaultFileTemplate
		if n.Kind == refname.KindOCI {
			t = DefaultImageTemplate
		}
	}
	parts, err := parseTemplate(t)
	if err != nil {
		return "", "", fmt.Errorf("template %q: %w", t, err)
	}
	// Each variable's value as a pattern and as people read it.
	type value struct{ pattern, shown string }
	values := map[string]value{}
	if n.Kind == refname.KindOCI {
		tag := value{escapeGlob(n.Tag), n.Tag}
		if n.Tag == "" {
			tag = value{"*", "*"}
		}
		prefix := n.Registry + "/" + n.Repository + ":"
		values["registry"] = value{escapeGlob(n.Registry), n.Registry}
		values["repository"] = value{escapeGlob(n.Repository), n.Repository}
		values["tag"] = tag
		values["ref"] = value{escapeGlob(prefix) + tag.pattern, prefix + tag.shown}
	} else {
		values["file"] = value{escapeGlob(n.File), n.File}
		values["ref"] = values["file"]
	}
	var p, s strings.Builder
	for _, part := range parts {
		v, ok := value{escapeGlob(part.lit), part.lit}, true
		if part.v != "" {
			if v, ok = values[part.v]; !ok {
				return "", "", fmt.Errorf("template %q uses {%s}, which %s does not have", t, part.v, n.Short())
			}
		}
		p.WriteString(v.pattern)
		s.WriteString(v.shown)
	}
	return p.String(), s.String(), nil
}

// name evaluates a name requirement: the reference being verified,
// normalised, names the TUF target or manifest line that must list these
// bytes. With no reference (standard input, a token asked for a bare
// digest) there is no name to bind, and the requirement is undecided.
func (ev *evaluation) name(r *NameRequirement) Result {
	n, err := refname.Normalize(ev.resource)
	if err != nil {
		return undecided("name", fmt.Sprintf("no name to bind to the bytes (%v): verify the artifact by its name (file, URL or registry/repo:tag)", err))
	}
	pattern, shown, err := r.DeriveName(n)
	if err != nil {
		return fail("name", ReasonNameMismatch, err.Error())
	}
	if r.TUF != nil {
		return ev.nameTUF(r.TUF, n, pattern, shown)
	}
	return ev.namePGP(r.PGP, n, pattern, shown)
}

// nameTUF: a target of the role named by the reference lists the bytes.
func (ev *evaluation) nameTUF(t *NameTUF, n refname.Name, pattern, shown string) Result {
	role, ref, names, res := ev.readRole("name", t.Repo, t.Role)
	if res != nil {
		return *res
	}
	var listing, named []string
	for _, name := range names {
		m, _ := path.Match(pattern, name)
		switch {
		case m && ev.matches(role.Targets[name]):
			if !role.Expires.IsZero() && !ev.now.Before(role.Expires) {
				return fail("name", ReasonStaleMetadata, fmt.Sprintf("target %s is listed by %s, which expired at %s", name, ref, role.Expires.UTC().Format(time.RFC3339)), ref+" target "+name)
			}
			res := pass("name", fmt.Sprintf("target %s in repo %s, role %s, binds %s to these bytes", name, role.Repo, role.Role, n.Short()), ref+" target "+name)
			if role.Input.URI != "" {
				res.Inputs = []Input{role.Input}
			}
			ev.reliesOnRole(role)
			return res
		case m:
			named = append(named, name)
		case ev.matches(role.Targets[name]):
			listing = append(listing, name)
		}
	}
	if len(listing) > 0 {
		return fail("name", ReasonNameMismatch, fmt.Sprintf("%s asks for target %s, but the bytes are target %s in %s", n.Short(), shown, strings.Join(listing, ", "), ref), ref)
	}
	if len(named) > 0 {
		return fail("name", ReasonNameMismatch, fmt.Sprintf("%s asks for target %s, which lists other bytes in %s", n.Short(), strings.Join(named, ", "), ref), ref)
	}
	return fail("name", ReasonUnsigned, fmt.Sprintf("no target %s in %s, and no target lists these bytes", shown, ref), ref)
}

// namePGP: a manifest line named by the reference lists the bytes, signed
// by a key that chains to a pinned root for that name.
func (ev *evaluation) namePGP(p *NamePGP, n refname.Name, pattern, shown string) Result {
	sigs, err := ev.e.Sources.PGP.PGPSignatures(ev.ctx, ev.ds)
	if err != nil {
		return undecided("name", fmt.Sprintf("manifest signatures: %v", err))
	}
	if len(sigs) == 0 {
		return fail("name", ReasonUnsigned, "no OpenPGP-signed manifest lists these bytes")
	}
	var others, refusals []string
	revoked := false
	for _, s := range sigs {
		if m, _ := path.Match(pattern, s.Name); !m {
			others = append(others, fmt.Sprintf("%s (manifest seq %d)", s.Name, s.Seq))
			continue
		}
		d, err := ev.e.Sources.PGP.PGPDecide(ev.ctx, s.Name, s.Signer, s.At, s.Observed, p.Roots)
		if err != nil {
			return undecided("name", fmt.Sprintf("chain for %s: %v", s.Signer, err))
		}
		if d.Allowed {
			ev.counted(s.Signer, s.At, s.Observed)
			ev.counted(s.Primary, s.At, s.Observed)
			ev.reliesOnChain(d)
			evidence := fmt.Sprintf("pgp manifest seq %d: %s signed by key %s", s.Seq, s.Name, s.Signer)
			res := pass("name", fmt.Sprintf("manifest line %s, signed by %s, which chains to a pinned root, binds %s to these bytes", s.Name, s.Signer, n.Short()), append([]string{evidence}, d.Chain...)...)
			if s.Input.URI != "" {
				res.Inputs = []Input{s.Input}
			}
			return res
		}
		refusals = append(refusals, fmt.Sprintf("%s: %s %s", s.Signer, d.Refusal, d.Detail))
		revoked = revoked || d.Refusal == string(pgp.CodeRevoked) || d.Refusal == string(pgp.CodeRevokedCompromised)
	}
	switch {
	case revoked:
		return fail("name", ReasonRevoked, "a key on the chain is revoked: "+strings.Join(refusals, "; "))
	case len(refusals) > 0:
		return fail("name", ReasonUntrustedSigner, fmt.Sprintf("manifests name these bytes %s, but no signer chains to the pinned roots: %s", shown, strings.Join(refusals, "; ")))
	}
	return fail("name", ReasonNameMismatch, fmt.Sprintf("%s asks for manifest name %s, but the manifests name these bytes %s", n.Short(), shown, strings.Join(others, ", ")))
}
