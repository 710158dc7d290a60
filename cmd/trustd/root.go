package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/digest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/feedback"
	"github.com/trustd-dev/trustd/identity"
	"github.com/trustd-dev/trustd/internal/version"
	"github.com/trustd-dev/trustd/location"
	_ "github.com/trustd-dev/trustd/pgp" // the pgp key type, for envelope.Verify
	"github.com/trustd-dev/trustd/pgplog"
	"github.com/trustd-dev/trustd/revocation"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/statement"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/token"
	"github.com/trustd-dev/trustd/tuf"
	"github.com/trustd-dev/trustd/tufstore"
	"github.com/trustd-dev/trustd/witness"
)

func newRootCmd() *cobra.Command {
	var cfg config
	root := &cobra.Command{
		Use:   "trustd",
		Short: "trustd: a supply-chain trust and attestation service keyed by content digest",
		Long: `trustd stores signed claims about artifacts, keyed by their digests, and
answers lookups over gRPC. It never stores artifact bytes.

With no flags it serves on loopback (gRPC ` + defaultGRPCAddr + `, HTTP ` + defaultHTTPAddr + `)
from an embedded SQLite file in --data-dir. Point --db at postgres://… to use
PostgreSQL. Every flag can also be set as TRUSTD_<FLAG> (e.g. TRUSTD_DB).

` + rotationHelp,
		Example: `  trustd                                  # SQLite in ~/.local/share/trustd
  trustd --data-dir /var/lib/trustd
  TRUSTD_DB=postgres://trustd@db/trustd trustd --grpc-addr 0.0.0.0:7400`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.complete(cmd.Flags()); err != nil {
				return err
			}
			return serve(cmd, &cfg)
		},
	}
	cfg.storeFlags(root.Flags())
	cfg.serveFlags(root.Flags())
	root.AddCommand(newMigrateCmd(), newHealthcheckCmd(), newVersionCmd(), newConfigCmd())
	return root
}

func newMigrateCmd() *cobra.Command {
	var cfg config
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply pending database migrations and exit",
		Long: `migrate applies every pending schema migration to the configured store and
exits. trustd also migrates at start; run this alone to migrate ahead of a
rollout.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := cfg.complete(cmd.Flags()); err != nil {
				return err
			}
			s, err := cfg.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer s.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "migrated %s\n", cfg.backend())
			return nil
		},
	}
	cfg.storeFlags(cmd.Flags())
	return cmd
}

func serve(cmd *cobra.Command, cfg *config) error {
	ctx := cmd.Context()
	log := cfg.logger()
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return err
	}
	logKeyPaths, err := cfg.keyFiles("--log-key", cfg.LogKeys, "log.key")
	if err != nil {
		return err
	}
	st, err := cfg.openStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	logKey, err := sharedLogKeys(ctx, log, st, logKeyPaths, cfg.LogOrigin)
	if err != nil {
		return err
	}
	skey, vkey := logKey.skey, logKey.vkey
	// Each signer's payload is logged once; entries an older trustd
	// logged are recorded by what they sign now, before anything is
	// served, so no copy of one is a new entry.
	if n, repeats, err := statement.IndexLoggedSignatures(ctx, st, func(e store.Statement) (digest.Digest, bool) {
		if d, ok := attest.SignedDigest(e); ok {
			return d, true
		}
		return pgplog.SignedDigest(e)
	}); err != nil {
		return fmt.Errorf("signed payload index: %w", err)
	} else if n > 0 {
		log.Info("recorded the signed payloads of entries logged before this version", "count", n, "repeats", repeats)
		if repeats > 0 {
			log.Warn("entries logged before this version repeat a payload their signers logged in an earlier entry; a revocation of the earlier entry does not name them: revoke them too", "count", repeats)
		}
	}
	// pgplog's validators judge OpenPGP delegations and rotations; its
	// import of pgp registers the pgp key type with envelope, so DSSE
	// signatures by registered OpenPGP certificates verify.
	// revocation's validator enforces who may revoke what; its indexer
	// keeps the revocation index in each append's transaction.
	rev := newRevocation(cfg, st)
	// OpenPGP revocation certificates and rotations feed the one
	// revocation index as they are logged; those an older trustd logged
	// are indexed now, before anything is served.
	if n, err := rev.IndexLoggedOpenPGP(ctx, st); err != nil {
		return fmt.Errorf("revocation index: %w", err)
	} else if n > 0 {
		log.Info("indexed OpenPGP revocation certificates and rotations logged before this version", "count", n)
	}
	// identity tells which voters are bound to a verified identity (a
	// Sigstore binding, or an OpenPGP certification by a configured root).
	idv, err := identity.New(st, identity.Options{PGPRoots: cfg.IdentityPGPRoots, Revocations: rev})
	if err != nil {
		return fmt.Errorf("--identity-pgp-root: %w", err)
	}
	// feedback validates votes, trust statements and responses, and keeps
	// the current votes and their totals in each append's transaction;
	// votes of revoked keys stop counting; only publishers (revocation's
	// one definition) may respond.
	fb := feedback.New(st, feedback.Options{
		MaxSkew: cfg.VoteMaxSkew, RateLimit: feedback.RateLimit{N: cfg.VoteRate, Per: cfg.VoteRateWindow},
		Revocations: rev,
		Identities:  idv,
		Publishers:  rev,
	})
	// So is the identity binding index --verified-only reads.
	if n, err := idv.IndexLoggedBindings(ctx, st); err != nil {
		return fmt.Errorf("identity binding index: %w", err)
	} else if n > 0 {
		log.Info("indexed identity bindings logged before this version", "count", n)
	}
	// The versioned web of trust is derived from the log: trust
	// statements an older trustd logged are replayed into it now.
	if n, err := fb.IndexLoggedTrust(ctx, st); err != nil {
		return fmt.Errorf("trust graph index: %w", err)
	} else if n > 0 {
		log.Info("indexed trust statements logged before this version into the versioned web of trust", "count", n)
	}
	// location validates location claims (schemes, addresses, the cap per
	// digest) and indexes them; publishers' claims are authoritative.
	locs := location.New(st, location.Options{Rules: location.Rules{AllowHTTP: cfg.Location.AllowHTTP, AllowPrivate: cfg.Location.AllowPrivate},
		MaxPerDigest: cfg.Location.MaxPerDigest, Publishers: rev, Revocations: rev})
	validators, indexers := logHooks(cfg, st, rev, fb, idv, locs)
	// Every record type callers submit has its validator, and nothing
	// else has one: a type is not served without its rule.
	if err := statement.CheckValidators(validators); err != nil {
		return fmt.Errorf("record types: %w", err)
	}
	limits := envelope.DefaultLimits()
	limits.MaxEnvelopeBytes = max(limits.MaxEnvelopeBytes, attest.EnvelopeBound(cfg.MaxAttestationBytes))
	limits.MaxSubjects = cfg.Limits.MaxStatementSubjects
	logOpts := statement.Options{LogKey: skey, LogVerifierKey: vkey, RetiringLogKeys: logKey.retiring, Limits: limits, Validators: validators, Indexers: indexers, BatchIndexers: fb.BatchIndexers(), ReadAheads: fb.ReadAheads()}
	keyQuota, err := cfg.Limits.keyQuota()
	if err != nil {
		return err
	}
	if keyQuota != nil {
		logOpts.Quota = keyQuota
	}
	serverLimits, err := cfg.Limits.server()
	if err != nil {
		return err
	}
	stLog, err := statement.New(st, logOpts)
	if err != nil {
		return err
	}
	var sigstoreRoot *attest.TrustedRoot
	if cfg.SigstoreTrustedRoot != "" {
		if sigstoreRoot, err = attest.LoadTrustedRoot(cfg.SigstoreTrustedRoot); err != nil {
			return fmt.Errorf("--sigstore-trusted-root: %w", err)
		}
	}
	attestSvc := attest.New(st, stLog, attest.Options{MaxStatementBytes: cfg.MaxAttestationBytes, Limits: limits, Sigstore: sigstoreRoot,
		SigstoreRequireSCT: cfg.SigstoreRequireSCT, Revocations: rev.AttestationView(), Notation: cfg.notationTrust})

	tufDir, err := cfg.tufKeysDir()
	if err != nil {
		return err
	}
	onlineKeys, err := tuf.LoadOnlineKeys(tufDir, cfg.TUFKeyType)
	if err != nil {
		return fmt.Errorf("--tuf-keys-dir: %w", err)
	}
	tufState, err := tufstore.New(st, stLog)
	if err != nil {
		return err
	}
	tufSvc, err := tuf.New(tufState, onlineKeys, tuf.Config{SnapshotExpiry: cfg.TUFSnapshotTTL, TimestampExpiry: cfg.TUFTimestampTTL,
		Creation: cfg.tufCreation})
	if err != nil {
		return err
	}
	logCreationPolicy(log, cfg.tufCreation)

	revLists, keysRepo, err := revocationLists(cfg, st, tufSvc, tufState, onlineKeys, tufDir)
	if err != nil {
		return err
	}
	keysRepo.Log = log
	listKey := revLists.PublishedKey()

	tokenIssuer, acceptedTokenKeys, err := loadTokenIssuer(cfg)
	if err != nil {
		return err
	}
	// trustd/keys is trustd's from the first start: created (if missing)
	// with trustd's system keys and holding the token, list and log keys
	// before anything is served, so no caller can take the name first.
	// Each purpose's keys are published as one set: during a rotation the
	// key in use and the keys accepted beside it; keys dropped from the
	// flags are unpublished.
	tokenKey := keysRepo.Key(token.KeyTarget, tokenIssuer.PublicKey(), acceptedTokenKeys...)
	publishedLogKey, err := keysRepo.LogKey(vkey, logKey.retiringV...)
	if err != nil {
		return fmt.Errorf("--log-key: %w", err)
	}
	if err := keysRepo.Start(ctx, tokenKey, listKey, publishedLogKey); err != nil {
		return fmt.Errorf("TUF repository %s: %w", revocation.KeysRepo, err)
	}
	logRotation(log, "token key", tokenIssuer.PublicKey().ID, keyIDs(acceptedTokenKeys))
	listInUse, err := listKey.Publish(ctx)
	if err != nil {
		return err
	}
	logRotation(log, "revocation list key", listInUse.ID, keyIDs(listKey.Accepted()))
	logRotation(log, "log key (checkpoints announce it, co-signed by the retiring keys)", vkey, logKey.retiringV)
	var pusher *witness.Pusher
	if len(cfg.witnesses) > 0 {
		if pusher, err = witness.New(ctx, stLog, st, witness.Options{Witnesses: cfg.witnesses, Interval: cfg.WitnessInterval, Logger: log}); err != nil {
			return fmt.Errorf("--witness: %w", err)
		}
	}
	srv, err := server.New(server.Options{
		Witnesses:   pusher,
		TokenIssuer: tokenIssuer, TokenTTL: cfg.TokenTTL, Version: version.Get().Version, TokenKey: tokenKey,
		TokenPolicies: cfg.TokenPolicies.catalog, TokenVerifierID: cfg.TokenPolicies.VerifierID,
		Store: st, Log: stLog, Logger: log, TLS: tlsCfg, Authz: cfg.authz(),
		TUF: tufSvc, TUFState: tufState, TUFKeys: onlineKeys, Feedback: fb,
		Attest:     attestSvc,
		Revocation: rev, RevocationLists: revLists, Locations: locs,
		MaxRequestBytes: cfg.MaxRequestBytes, RequestTimeout: cfg.RequestTimeout, ShutdownTimeout: cfg.ShutdownTimeout,
		Limits: serverLimits, MaxEvidencePerLookup: cfg.Limits.MaxEvidence,
		Build: version.Get(), Database: cfg.backendKind(),
	})
	if err != nil {
		return err
	}
	grpcLis, err := net.Listen("tcp", cfg.GRPCAddr)
	if err != nil {
		return fmt.Errorf("--grpc-addr: %w", err)
	}
	var httpLis net.Listener
	if cfg.HTTPAddr != "" {
		if httpLis, err = net.Listen("tcp", cfg.HTTPAddr); err != nil {
			grpcLis.Close()
			return fmt.Errorf("--http-addr: %w", err)
		}
	}
	for _, a := range []string{cfg.GRPCAddr, cfg.HTTPAddr} {
		if a != "" && !isLoopback(a) && tlsCfg == nil {
			// complete refused this without --insecure-plaintext.
			log.Warn("serving plaintext beyond loopback (--insecure-plaintext): callers cannot authenticate trustd, and nobody can prove an operator role", "addr", a)
		}
	}
	attrs := []any{"grpc", grpcLis.Addr().String(), "store", cfg.backend(), "log_key", vkey, "version", version.Get().String(),
		"tls", tlsCfg != nil, "client_certs", cfg.TLSClientCA != "", "operators", len(cfg.OperatorSANs) + len(cfg.OperatorFingerprints),
		"key_registration", cfg.keyRegistration()}
	attrs = append(attrs, "revocation_list_key", listInUse.ID, "token_key", tokenIssuer.PublicKey().ID)
	if httpLis != nil {
		attrs = append(attrs, "http", httpLis.Addr().String())
	}
	// The policies are logged before the line that says trustd serves,
	// which whoever waits for it (an operator, the integration tests)
	// takes as the end of the start.
	logTokenPolicies(log, cfg.TokenPolicies.catalog, "token policies")
	log.Info("trustd serving", attrs...)
	refreshed := make(chan struct{})
	rctx, stopRefresh := context.WithCancel(ctx)
	go func() {
		defer close(refreshed)
		refreshTUF(rctx, log, tufState, tufSvc, cfg.TUFRefresh)
	}()
	if sigstoreRoot != nil {
		go watchSigstoreRoot(rctx, log, sigstoreRoot, cfg.SigstoreRootCheck)
	}
	if cfg.TokenPolicies.catalog != nil {
		watchTokenPolicies(rctx, log, cfg.TokenPolicies.catalog)
	}
	pushed := make(chan struct{})
	go func() {
		defer close(pushed)
		if pusher != nil {
			var names []string
			for _, w := range cfg.witnesses {
				names = append(names, w.Name())
			}
			log.Info("pushing checkpoints to witnesses", "witnesses", names, "interval", server.LogDuration(cfg.WitnessInterval))
			pusher.Run(rctx)
		}
	}()
	err = srv.Serve(ctx, grpcLis, httpLis)
	stopRefresh()
	<-refreshed
	<-pushed
	return err
}

// logCreationPolicy says at start who may create TUF repositories, and
// warns when nobody may.
func logCreationPolicy(log *slog.Logger, p tuf.CreationPolicy) {
	if p.Closed && len(p.Operators) == 0 && len(p.Owners) == 0 {
		log.Warn("TUF repository creation is closed: listening beyond loopback with no --tuf-operator-key or --tuf-repo-owner; every InitRepo is refused (set them, or --tuf-repo-creation open)")
		return
	}
	log.Info("TUF repository creation", "policy", p.Describe())
}

// logHooks gathers the validators and indexers of every package that
// gives a record type meaning, for statement.Options. attest's check and
// index the predicates it understands (SLSA provenance, SBOMs, VSAs) on
// every path into the log.
func logHooks(cfg *config, st store.Store, rev *revocation.Service, fb *feedback.Service, idv *identity.Verifier, locs *location.Service) (map[string]statement.Validator, map[string]statement.Indexer) {
	validators := pgplog.Validators(st)
	maps.Copy(validators, fb.Validators())
	maps.Copy(validators, rev.Validators())
	maps.Copy(validators, attest.Validators(cfg.MaxAttestationBytes))
	maps.Copy(validators, idv.Validators())
	maps.Copy(validators, locs.Validators())
	indexers := fb.Indexers()
	maps.Copy(indexers, locs.Indexers())
	maps.Copy(indexers, rev.Indexers())
	maps.Copy(indexers, attest.Indexers())
	maps.Copy(indexers, idv.Indexers())
	return validators, indexers
}

// watchSigstoreRoot re-reads the Sigstore trusted root on SIGHUP and when
// the file changes, until ctx is done; a bad file is logged and the last
// good root stays in use.
func watchSigstoreRoot(ctx context.Context, log *slog.Logger, root *attest.TrustedRoot, interval time.Duration) {
	report := func(changed bool, err error) {
		switch {
		case err != nil:
			log.Error("sigstore trusted root: keeping the previous one", "err", err)
		case changed:
			log.Info("sigstore trusted root reloaded")
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go root.Watch(ctx, interval, report)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			report(root.Reload())
		}
	}
}

// refreshTUF re-signs, every interval (and once at start), the timestamp
// and snapshot of every TUF repository that are past their refresh window,
// until ctx is done. A failure is logged and retried at the next tick.
func refreshTUF(ctx context.Context, log *slog.Logger, st *tufstore.State, svc *tuf.Service, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		repos, err := st.Repos(ctx)
		if err != nil && ctx.Err() == nil {
			log.Error("tuf refresh: list repositories", "err", err)
		}
		for _, repo := range repos {
			files, err := svc.Refresh(ctx, repo, time.Now())
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				log.Error("tuf refresh", "repo", repo, "err", err)
			case len(files) > 0:
				attrs := []any{"repo", repo}
				for _, f := range files {
					attrs = append(attrs, f.Role, f.Version)
				}
				log.Info("tuf refreshed", attrs...)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
