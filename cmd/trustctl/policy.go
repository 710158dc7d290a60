package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/internal/cliutil"
	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/timerule"
)

func newPolicyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check deploy policy files; print their schema and reason codes",
		Long: `A policy file (YAML, apiVersion ` + policy.APIVersion + `) holds named policies.
Each combines requirements with all/any:

  tuf          target NAME (or pattern) in repo R, signed under role X
  pgp          listed in an OpenPGP-signed manifest by a key that chains to
               pinned root fingerprints for the file's name
  attestation  at least N of predicate type T by given signers or Sigstore
               identities, with conditions on indexed fields
  revocation   revocation state required, no older than D (the check
               itself is made of every verdict: see below)
  reputation   score / vote thresholds, globally or within a trust set
  threshold    at least K distinct signers of a named set (keys, OpenPGP
               keys, Sigstore identities)
  token        a trustd token no older than D satisfies it by itself
  name         the evidence binds the name being verified to the bytes: a
               TUF target (tuf: {repo, role}) or OpenPGP manifest line
               (pgp: {roots}) named from the reference by a template

Revocations always win (deny-overrides). Whenever revocation state is
available (online: trustd's live index; offline: the list 'trustctl
revocations sync' cached; token issue: trustd's index), every verdict is
checked for a revocation in force of the bytes' digests, of every key whose
signature the evaluation counted (a token's own key and the signers it
names too, the keys that signed a TUF targets role or the statements of an
OpenPGP chain it relied on), of every log entry a passing requirement relied on and of every
token it accepted. One fails the verdict REVOKED whatever the all/any tree,
thresholds or tokens say. Unreadable state leaves a passing verdict
undecided; an expired or too old list fails it STALE_METADATA.

` + timerule.Help + `

Names bound to digests. A deploy asks for a name; a registry may point
that tag at an older image that is still validly signed. The reference
given to verify (or token issue) is normalised once (package refname):
  - an image: oci://REGISTRY/REPOSITORY[:TAG][@DIGEST]; the registry is
    lowercased, index.docker.io and registry-1.docker.io are docker.io, a
    one-element repository on docker.io is library/NAME, no tag and no
    digest means :latest; a digest reference (repo@sha256:…) binds no tag
  - a file, https URL or file:// URI: its last path element (base name)
  - standard input names nothing
A name requirement's template is filled in from it: {registry},
{repository}, {tag} (images), {file} (files), {ref} (the whole name,
REGISTRY/REPOSITORY:TAG or the file name). Default: {repository}:{tag} for
images (registry.example/acme/app:1.4 → target acme/app:1.4), {file} for
files (dist/app-1.4.tar.gz → app-1.4.tar.gz). A digest reference lets
{tag} be any tag. The requirement fails NAME_MISMATCH when the evidence
names the bytes otherwise or binds the name to other bytes, UNSIGNED when
neither exists, and is undecided when nothing names the artifact.

A token binds the name it was issued for (its VSA resourceUri): verify
compares it with the reference, both normalised as above, online and
offline, and a token for another tag, repository, registry or file name
fails NAME_MISMATCH. A token issued for a bare digest names nothing; it
passes only policies without a name requirement.

'trustctl policy schema' prints the JSON schema; policy/testdata holds
examples.`,
	}
	cmd.AddCommand(newPolicyCheckCmd(g), newPolicySchemaCmd(), newPolicyReasonsCmd(g))
	return cmd
}

type policySummary struct {
	Name         string   `json:"name"`
	Digest       string   `json:"digest"`
	Requirements int      `json:"requirements"`
	Kinds        []string `json:"kinds"`
}

func summarize(p *policy.Policy) policySummary {
	s := policySummary{Name: p.Name, Digest: p.Digest().String()}
	seen := map[string]bool{}
	var walk func(r *policy.Requirement)
	walk = func(r *policy.Requirement) {
		s.Requirements++
		if k := r.Kind(); !seen[k] {
			seen[k] = true
			s.Kinds = append(s.Kinds, k)
		}
		for _, l := range [][]policy.Requirement{r.All, r.Any} {
			for i := range l {
				walk(&l[i])
			}
		}
	}
	walk(&p.Require)
	return s
}

func newPolicyCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check FILE",
		Short: "Check a policy file and list its policies with their digests",
		Long: `check parses and validates a policy file as trustctl verify and trustd would,
naming the field at fault on error (exit 2). Each policy's digest is what
tokens record; a token verifies only against a policy with the same digest.`,
		Example: `  trustctl policy check deploy.yaml
  trustctl policy check deploy.yaml -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := readBounded(args[0], policy.MaxFileBytes)
			if err != nil {
				return err
			}
			f, err := policy.Parse(data)
			if err != nil {
				return &cliutil.ExitError{Code: cliutil.ExitFailure, Err: fmt.Errorf("%s: %w", args[0], err)}
			}
			var out []policySummary
			for i := range f.Policies {
				out = append(out, summarize(&f.Policies[i]))
			}
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), map[string]any{"file": args[0], "apiVersion": f.APIVersion, "policies": out})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok, %d policies\n", args[0], len(out))
			for _, s := range out {
				fmt.Fprintf(cmd.OutOrStdout(), "  %s  %s  %d requirements (%s)\n", s.Name, s.Digest, s.Requirements, strings.Join(s.Kinds, ", "))
			}
			return nil
		},
	}
}

func newPolicySchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON schema of policy files",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(policy.Schema)
			return err
		},
	}
}

func newPolicyReasonsCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "reasons",
		Short: "List the reason codes a verdict's failed requirements carry",
		Long: `The reason codes are a stable contract: pipelines may branch on them in
'trustctl verify -o json' output (result.children[].reason).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.output == "json" {
				return printJSON(cmd.OutOrStdout(), policy.Reasons)
			}
			for _, r := range policy.Reasons {
				fmt.Fprintf(cmd.OutOrStdout(), "%-22s %s\n", r.Code, r.Meaning)
			}
			return nil
		},
	}
}
