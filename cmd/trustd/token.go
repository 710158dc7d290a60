package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/policy"
	"github.com/trustd-dev/trustd/token"
)

// loadTokenIssuer reads the token keys (--token-key, or token.key in the
// data directory), creating missing files: the first key signs tokens;
// the others are returned to be published beside it during a rotation.
func loadTokenIssuer(c *config) (*token.Issuer, []envelope.PublicKey, error) {
	paths, err := c.keyFiles("--token-key", c.TokenKeys, "token.key")
	if err != nil {
		return nil, nil, err
	}
	if c.TokenTTL <= 0 {
		return nil, nil, fmt.Errorf("--token-ttl: %s: must be positive", c.TokenTTL)
	}
	var (
		issuer   *token.Issuer
		accepted []envelope.PublicKey
	)
	for i, path := range paths {
		s, pub, err := token.LoadOrCreateKey(path)
		if err != nil {
			return nil, nil, fmt.Errorf("--token-key: %w", err)
		}
		if i == 0 {
			issuer = token.NewIssuer(s, pub)
		} else {
			accepted = append(accepted, pub)
		}
	}
	return issuer, accepted, nil
}

// tokenPolicyConfig is the part of trustd's configuration that says which
// policies tokens are issued for, and what the tokens say about their
// verifier.
type tokenPolicyConfig struct {
	Dirs       []string
	Files      []string
	VerifierID string
	// catalog is the loaded policies; complete() loads them, so a bad
	// file stops trustd at start.
	catalog *policy.Catalog
}

func (t *tokenPolicyConfig) flags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&t.Dirs, "token-policy-dir", nil, "directory of the policy files tokens are issued for: every *.yaml, *.yml and *.json file in it; each of their policies is asked for by its name (trustctl token issue --policy NAME); repeatable; re-read on SIGHUP; default none: IssueToken refuses every request (env TRUSTD_TOKEN_POLICY_DIR)")
	fs.StringSliceVar(&t.Files, "token-policy", nil, "a policy file tokens are issued for, as in --token-policy-dir; repeatable or comma-separated; default none (env TRUSTD_TOKEN_POLICY)")
	fs.StringVar(&t.VerifierID, "token-verifier-id", token.VerifierID, "URI written as verifier.id in issued tokens (SLSA VSAs); name this deployment so VSA consumers can tell its tokens apart (env TRUSTD_TOKEN_VERIFIER_ID)")
}

// check validates the verifier id and loads the policies, naming the flag
// and the file at fault.
func (t *tokenPolicyConfig) check() error {
	var errs []error
	if u, err := url.Parse(t.VerifierID); err != nil || u.Scheme == "" || (u.Host == "" && u.Opaque == "") || len(t.VerifierID) > 1024 {
		errs = append(errs, fmt.Errorf("--token-verifier-id: %q is not an absolute URI such as %s", t.VerifierID, token.VerifierID))
	}
	src := policy.CatalogSources{Dirs: t.Dirs, Files: t.Files}
	if !src.Empty() {
		c, err := policy.LoadCatalog(src)
		if err != nil {
			errs = append(errs, fmt.Errorf("--token-policy-dir / --token-policy: %w", err))
		}
		t.catalog = c
	}
	return errors.Join(errs...)
}

// logTokenPolicies logs the policies held, each with its digest (what a
// token for it records and a verifier compares).
func logTokenPolicies(log *slog.Logger, c *policy.Catalog, msg string) {
	entries := c.Entries()
	if len(entries) == 0 {
		log.Info("no token policies configured: IssueToken refuses every request; give --token-policy-dir or --token-policy")
		return
	}
	attrs := make([]any, 0, 2*len(entries))
	for _, e := range entries {
		attrs = append(attrs, e.Name, e.Policy.Digest().String())
	}
	log.Info(msg, attrs...)
}

// watchTokenPolicies re-reads the token policies on SIGHUP until ctx is
// done; a bad file is logged and the policies held before stay in use.
// The signal is caught from the moment it returns.
func watchTokenPolicies(ctx context.Context, log *slog.Logger, c *policy.Catalog) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := c.Reload(); err != nil {
					log.Error("token policies: keeping the previous ones", "err", err)
					continue
				}
				logTokenPolicies(log, c, "token policies reloaded")
			}
		}
	}()
}
