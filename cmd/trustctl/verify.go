package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/trustd-dev/trustd/client"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/internal/cliutil"
	"github.com/trustd-dev/trustd/policy"
	trustv1 "github.com/trustd-dev/trustd/proto/trust/v1"
	"github.com/trustd-dev/trustd/timerule"
	"github.com/trustd-dev/trustd/tlog"
	"github.com/trustd-dev/trustd/token"
)

// refHelp describes the artifact reference forms every command that takes
// an artifact accepts (client.Resolve).
const refHelp = `REF is a file path, - (standard input), an https:// URL, or an OCI reference
(registry/repo:tag or registry/repo@sha256:…, optionally oci://…). For OCI
references the artifact is the image manifest: its digest is checked
against the registry's and the reference's, and with --layers the config
and every layer (or every child manifest of an index) is fetched and
checked against its digest too.`

// refFlags are the flags that control how REF is read; commands that take
// an artifact register them with add.
type refFlags struct {
	layers   bool
	caFile   string
	progress string
}

func (f *refFlags) add(fs *pflag.FlagSet) {
	fs.BoolVar(&f.layers, "layers", false, "for OCI references, also fetch and check every layer's digest")
	fs.StringVar(&f.caFile, "blob-ca", "", "PEM CA certificates to trust for https URLs and registries, besides the system's")
	fs.StringVar(&f.progress, "progress", "auto", "progress of reading and hashing large artifacts on stderr: auto (when stderr is a terminal and CI is unset), always, never")
}

// options returns the resolver options: a progress bar on stderr as
// --progress says (by default when stderr is a terminal and CI is unset),
// quiet otherwise.
func (f *refFlags) options(cmd *cobra.Command) client.ResolveOptions {
	ro := client.ResolveOptions{Layers: f.layers, CAFile: f.caFile, Stdin: cmd.InOrStdin()}
	switch f.progress {
	case "always":
		ro.Progress = client.WriterProgress(cmd.ErrOrStderr())
	case "never":
	default:
		ro.Progress = client.TerminalProgress(os.Stderr)
	}
	return ro
}

// subject resolves ref (one of the refHelp forms) computing algs over its
// bytes, and returns it as an in-toto subject named by the artifact's
// name: for an OCI reference, the image manifest and its digest. Errors
// exit 2, prefixed with what (the argument or flag that named ref).
func (f *refFlags) subject(cmd *cobra.Command, what, ref string, algs []digest.Algorithm) (envelope.Subject, error) {
	ro := f.options(cmd)
	ro.Algorithms = algs
	art, err := client.Resolve(cmd.Context(), ref, ro)
	if err != nil {
		return envelope.Subject{}, resolveError(fmt.Errorf("%s: %w", what, err))
	}
	return envelope.Subject{Name: art.Name, Digests: art.Digests}, nil
}

// resolveError gives resolver errors their exit code: bytes that do not
// hash to the digest naming them (a tampered registry blob or manifest)
// are a definite no (1); bad references and unreadable bytes are "could
// not decide" (2).
func resolveError(err error) error {
	if errors.Is(err, client.ErrDigestMismatch) {
		return cliutil.Negative(err)
	}
	return &cliutil.ExitError{Code: cliutil.ExitFailure, Err: err}
}

// loadPolicy reads a policy file and picks the named policy.
func loadPolicy(file, name string) ([]byte, *policy.Policy, error) {
	data, err := readBounded(file, policy.MaxFileBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("--policy: %w", err)
	}
	f, err := policy.Parse(data)
	if err != nil {
		return nil, nil, fmt.Errorf("--policy %s: %w", file, err)
	}
	p, err := f.Policy(name)
	if err != nil {
		return nil, nil, fmt.Errorf("--policy-name: %w", err)
	}
	return data, p, nil
}

// serverTokenKey is the token keys a connected trustd reports (the key in
// use, and during a rotation the keys accepted beside it), trusted as far
// as the connection to it is.
type serverTokenKey struct{ c *client.Client }

func (s serverTokenKey) TokenKeys(ctx context.Context) ([]envelope.PublicKey, error) {
	resp, err := s.c.Tokens.GetTokenKey(ctx, &trustv1.GetTokenKeyRequest{})
	if err != nil {
		return nil, err
	}
	var keys []envelope.PublicKey
	for _, pem := range append([][]byte{resp.GetPublicKey()}, resp.GetAcceptedPublicKeys()...) {
		k, err := envelope.ParsePublicKey(pem)
		if err != nil {
			return nil, fmt.Errorf("token key from the server: %w", err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func newVerifyCmd(g *globals) *cobra.Command {
	var (
		policyFile, policyName string
		offline                bool
		tokenKeys, tufRoots    []string
		trustRoot, tufURL      string
		cf                     cacheFlags
		ref                    refFlags
		lf                     logFlags
		wf                     witnessFlags
		// followed is the log state followed after an online verify,
		// kept at logPath; nil when none is in use.
		followed *logState
		logPath  string
	)
	cmd := &cobra.Command{
		Use:   "verify REF --policy FILE [--policy-name N]",
		Short: "Decide whether bytes may be deployed, by a policy",
		Long: `verify reads the artifact once, computing the digests the policy needs, gathers
the evidence about them and evaluates the policy. It prints every
requirement: passed or failed and why, naming the evidence (log sequence
numbers, keys, TUF role and version, OpenPGP chain). In --output json every
failed requirement carries a stable reason code (trustctl policy reasons).

Online (the default) the evidence comes from trustd in one call
(GetEvidence): every log entry it cites with its signed bytes and an
inclusion proof under a checkpoint signed by the log key (--log-key, or
the key 'trustctl log' pinned for this server, or else the key trustd
names), which trustctl checks, re-verifying every OpenPGP manifest
signature and DSSE signature by a registered key, before the same policy
evaluator trustd's token issuance runs judges it. When a log state file is
in use (--log-state, or the one 'trustctl log' keeps for this server), that
checkpoint must be consistent with the one remembered there (a log that
shrank or forked since fails with exit 1, before any verdict) and is
remembered in its place. With --tuf-root
REPO=ROOT.json the TUF evidence of REPO is verified from that pinned root
by go-tuf's client workflow (signatures, thresholds, versions, expiry,
delegations) rather than taken as served. Revocations are trustd's live
state at the time of the call (they travel in the same evidence),
reputation its vote totals.

Revocations always win (deny-overrides): online against trustd's live
revocation state, offline against the list 'trustctl revocations sync'
cached (--cache), every verdict is checked for a revocation in force of the
bytes' digests, of every key whose signature it counted (a token's own key
and the signers it names too, the keys that signed a TUF targets role and
the statements of an OpenPGP chain it relied on), of the log entries it
relied on (that role's metadata too) and of the token it accepted. One such
revocation fails the verdict REVOKED whatever the policy's any/all/threshold
tree says.

` + timerule.Help + `

With --offline only the token stored beside the bytes counts
(FILE.trust.json, URL.trust.json or an OCI referrer; see trustctl token
attach): its signature is checked against the token key, and its expiry,
age, digest and policy against the bytes just hashed and the policy given,
and the name it was issued for (its resourceUri) against REF, both
normalised as 'trustctl policy --help' describes (NAME_MISMATCH: a token
for app:1.3 does not admit the same bytes pulled as app:1.4).
The token keys are read through trustd's trustd/keys TUF repository from
the root pinned with --trust-root (while trustd rotates its token key, a
token signed by any key it publishes verifies), out of the go-tuf metadata cached by
'trustctl token key --root' or 'trustctl revocations sync' (or given as a
file with --token-key). The revocation list cached by 'trustctl revocations
sync' (--cache) is the revocation state offline: it answers revocation
requirements (STALE_METADATA when older than the policy's maxAge) and
fails a verdict whose token, token key, signer keys, subject or input
statements it revokes (REVOKED); once a list is cached, one older than
--max-staleness, or expired, fails every verdict (STALE_METADATA): absence
from a stale list proves nothing. Nothing is contacted.

With --offline --witness VKEY (repeatable; --witness-threshold K, default
all) the token must also carry a checkpoint of trustd's log that verifies
under the log key (--log-key, or the key 'trustctl log' pinned for
--server), cosigned by at least K of the named witnesses, and an inclusion
proof in it of every log entry it relies on: trustd puts the checkpoint it
last had its witnesses cosign (the latest, uncosigned, if their last round
is older than the token's inputs) in every token it issues. A token short
of cosignatures fails TOKEN_INVALID naming the missing witnesses, one
whose checkpoint or proof does not verify names the failing input (exit
1); tokens issued before tokens carried a checkpoint fail too. Without
--witness nothing of this is checked.

` + refHelp + `

Exit codes (trustctl --help states the rule): 0 the policy passed, 1 it
failed (tampered registry content included: a blob or manifest that does
not hash to its digest fails DIGEST_MISMATCH), 2 it could not be decided
(bad input, unreadable bytes, unreachable server, evidence unavailable).`,
		Example: `  trustctl verify dist/app.tar.gz --policy deploy.yaml
  trustctl verify registry.example/acme/app:1.4 --layers --policy deploy.yaml --policy-name production
  trustctl revocations sync --root keys-root.json --tuf-url http://trustd.example:7401/tuf/trustd/keys   # while online
  trustctl verify registry.example/acme/app@sha256:… --policy deploy.yaml --offline --trust-root keys-root.json
  trustctl verify dist/app.tar.gz --policy deploy.yaml --offline --token-key token.pub
  trustctl verify dist/app.tar.gz --policy deploy.yaml --offline --token-key token.pub --log-key "$LOG_VKEY" --witness "$W1" --witness "$W2" --witness-threshold 1
  curl -sL https://example.com/app.tgz | trustctl verify - --policy deploy.yaml -o json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, p, err := loadPolicy(policyFile, policyName)
			if err != nil {
				return err
			}
			if err := wf.check(); err != nil {
				return err
			}
			opts := client.VerifyOptions{Policy: p, Resolve: ref.options(cmd)}
			if len(tokenKeys) > 0 {
				keys, err := token.ReadKeyFiles(tokenKeys...)
				if err != nil {
					return fmt.Errorf("--token-key: %w", err)
				}
				opts.TokenKeys = keys
			}
			for _, v := range tufRoots {
				repo, file, ok := strings.Cut(v, "=")
				if !ok || repo == "" || file == "" {
					return fmt.Errorf("--tuf-root %q: want REPO=ROOT.json", v)
				}
				data, err := readBounded(file, maxEnvelopeFile)
				if err != nil {
					return fmt.Errorf("--tuf-root %s: %w", repo, err)
				}
				if opts.TUFRoots == nil {
					opts.TUFRoots = map[string][]byte{}
				}
				opts.TUFRoots[repo] = data
			}
			var pinned []byte
			if trustRoot != "" {
				if pinned, err = readBounded(trustRoot, 1<<20); err != nil {
					return fmt.Errorf("--trust-root: %w", err)
				}
			}
			tufCache := filepath.Join(cf.dir, "tuf")
			ctx := cmd.Context()
			if !offline {
				c, err := client.New(g.server, g.tls)
				if err != nil {
					return err
				}
				defer c.Close()
				c.SetMinLSN(g.minLSN)
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, g.timeout)
				defer cancel()
				opts.Client = c
				// Without a key or state file named, a state file that
				// cannot be found is no error: the server's key is used.
				st, path, err := lf.load(g.server)
				if err != nil && (lf.key != "" || lf.state != "") {
					return err
				}
				opts.LogKey = st.VerifierKey
				// The state is followed and saved when one is in use: named
				// with --log-state, or kept by 'trustctl log' for this
				// server.
				if err == nil && (lf.state != "" || fileExists(path)) {
					followed, logPath = &st, path
				}
				switch {
				case opts.TokenKeys != nil:
				case pinned != nil:
					// Asking for the key makes trustd publish it in
					// trustd/keys; the key itself comes through TUF.
					if _, err := c.Tokens.GetTokenKey(ctx, &trustv1.GetTokenKeyRequest{}); err != nil {
						return err
					}
					opts.TokenKeys = client.TUFTokenKey{RepoURL: tufURL, Root: pinned, MetadataDir: tufCache}
				default:
					opts.TokenKeys = serverTokenKey{c}
				}
			} else {
				if opts.TokenKeys == nil && pinned == nil {
					return errors.New("--offline: give the trusted token key with --token-key FILE or --trust-root ROOT.json (the trustd/keys TUF root)")
				}
				if opts.TokenKeys == nil {
					opts.TokenKeys = client.TUFTokenKey{Root: pinned, MetadataDir: tufCache}
				}
				if opts.Revocations, err = cf.open(); err != nil {
					return err
				}
				if len(wf.keys) > 0 {
					// The token's checkpoint is opened with the log key
					// given or pinned by 'trustctl log' for this server.
					st, _, err := lf.load(g.server)
					if err != nil {
						return err
					}
					if st.VerifierKey == "" {
						return errors.New("--witness with --offline: give the log's verifier key with --log-key (or pin it first with 'trustctl log --log-key' for this --server)")
					}
					opts.LogKey, opts.Witnesses, opts.WitnessThreshold = st.VerifierKey, wf.keys, wf.threshold
				}
			}
			res, err := client.Verify(ctx, args[0], opts)
			if err != nil {
				return resolveError(err)
			}
			if len(wf.keys) > 0 && !offline {
				// Before the verdict is told: evidence the witnesses did
				// not see in the log's history is not believed.
				if res.Evidence == nil || res.Evidence.Bundle().Log == nil {
					return cliutil.Negative(errors.New("--witness: the answer holds no checkpoint for the witnesses to vouch for"))
				}
				ecp := res.Evidence.Bundle().Log
				key := opts.LogKey
				if key == "" {
					key = ecp.VerifierKey
				}
				cp, _, err := tlog.FollowCheckpoint(ecp.Signed, key)
				if err != nil {
					return cliutil.Negative(fmt.Errorf("evidence checkpoint: %w", err))
				}
				if err := wf.requireWitnessed(ctx, opts.Client, key, cp); err != nil {
					return err
				}
			}
			if followed != nil && res.Evidence != nil {
				// Before the verdict is told: evidence from a log that
				// shrank or forked since it was last seen is not believed.
				if err := followEvidence(ctx, cmd, opts.Client, followed, logPath, res.Evidence.Bundle().Log); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			if g.output == "json" {
				err = res.Verdict.WriteJSON(out)
			} else {
				err = res.Verdict.WriteText(out)
			}
			if err != nil {
				return err
			}
			return verdictExit(res.Verdict)
		},
	}
	f := cmd.Flags()
	f.StringVar(&policyFile, "policy", "", "policy file (YAML, apiVersion "+policy.APIVersion+")")
	f.StringVar(&policyName, "policy-name", "", "the policy to enforce; may be omitted when the file holds one")
	f.BoolVar(&offline, "offline", false, "decide from the token beside the bytes alone, contacting no server")
	f.StringArrayVar(&tufRoots, "tuf-root", nil, "REPO=ROOT.json: verify TUF evidence of REPO with go-tuf's client from this pinned root (repeatable); other repositories are read as trustd serves them")
	f.StringArrayVar(&tokenKeys, "token-key", nil, "trusted token public key file (PEM or TUF JSON; repeatable); online, the server's key is used when none is given")
	f.StringVar(&trustRoot, "trust-root", "", "pinned root.json of trustd's trustd/keys TUF repository: the token key is read through it")
	f.StringVar(&tufURL, "tuf-url", defaultTUFURL, "URL of the trustd/keys TUF repository, online with --trust-root")
	f.StringVar(&lf.key, "log-key", "", "the log's note verifier key: online, the evidence must be proven under it; offline with --witness, the token's checkpoint must be signed by it (default: the key 'trustctl log' pinned for this server, else online the key trustd names; env TRUSTCTL_LOG_KEY)")
	f.StringVar(&lf.state, "log-state", "", "online: the 'trustctl log' state file holding the pinned log key and the newest checkpoint seen; verify proves the evidence's checkpoint consistent with it (exit 1 when the log shrank or forked) and saves it there (default: per server, under $XDG_STATE_HOME/trustctl, used when it exists)")
	wf.register(f)
	cf.register(cmd)
	ref.add(f)
	_ = cmd.MarkFlagRequired("policy")
	return cmd
}

// verdictExit turns a verdict into the exit code: 0 pass, 1 fail, 2
// undecided.
func verdictExit(v policy.Verdict) error {
	switch v.Outcome {
	case policy.Pass:
		return nil
	case policy.Fail:
		return &cliutil.ExitError{Code: cliutil.ExitNegative, Err: fmt.Errorf("policy %s failed: %v", v.Policy, v.Reasons())}
	}
	return &cliutil.ExitError{Code: cliutil.ExitFailure, Err: fmt.Errorf("policy %s could not be decided: %v", v.Policy, v.Reasons())}
}
