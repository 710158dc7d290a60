package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/trustd-dev/trustd/attest"
	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/identity"
	"github.com/trustd-dev/trustd/location"
	"github.com/trustd-dev/trustd/server"
	"github.com/trustd-dev/trustd/store"
	"github.com/trustd-dev/trustd/store/postgres"
	"github.com/trustd-dev/trustd/store/sqlite"
	"github.com/trustd-dev/trustd/tuf"
	"github.com/trustd-dev/trustd/witness"
)

// Default listen addresses: loopback, so exposing trustd is a choice.
const (
	defaultGRPCAddr = "127.0.0.1:7400"
	defaultHTTPAddr = "127.0.0.1:7401"
	envPrefix       = "TRUSTD"
)

// config is trustd's complete configuration, from flags, TRUSTD_* env and
// the --config file.
type config struct {
	// ConfigFile is --config: a YAML or TOML file of flag values.
	ConfigFile string
	// sources says, by flag name, where each value set came from (flag,
	// env or file); flags missing from it have their defaults.
	sources   map[string]string
	DataDir   string
	DB        string
	GRPCAddr  string
	HTTPAddr  string
	TLSCert   string
	TLSKey    string
	LogLevel  string
	LogFormat string
	// LogKeys are the log key files: the first signs checkpoints, the
	// others retire (co-sign them during a rotation).
	LogKeys         []string
	LogOrigin       string
	MaxRequestBytes int
	RequestTimeout  time.Duration
	ShutdownTimeout time.Duration
	TUFKeysDir      string
	TUFKeyType      string
	TUFSnapshotTTL  time.Duration
	TUFTimestampTTL time.Duration
	TUFRefresh      time.Duration
	// TUFRepoCreation, TUFOperatorKeys and TUFRepoOwners say who may create
	// TUF repositories; complete resolves them into tufCreation.
	TUFRepoCreation string
	TUFOperatorKeys []string
	TUFRepoOwners   []string
	tufCreation     tuf.CreationPolicy
	// WitnessSpecs are the --witness values (VKEY=URL), resolved into
	// witnesses by complete; WitnessInterval is the push round interval.
	WitnessSpecs    []string
	WitnessInterval time.Duration
	witnesses       []witness.Witness
	VoteRate        int
	VoteRateWindow  time.Duration
	VoteMaxSkew     time.Duration
	Rev             revocationConfig
	// TokenKeys are the token key files: the first signs tokens, the
	// others are accepted beside it during a rotation.
	TokenKeys     []string
	TokenTTL      time.Duration
	TokenPolicies tokenPolicyConfig
	// MaxAttestationBytes bounds an attestation's in-toto statement.
	MaxAttestationBytes int
	// Location are the rules of location claims.
	Location locationConfig
	// SigstoreTrustedRoot is the trusted_root.json bundles verify against.
	SigstoreTrustedRoot string
	// SigstoreRootCheck is how often the trusted root file is checked for
	// changes.
	SigstoreRootCheck time.Duration
	// SigstoreRequireSCT requires an SCT in bundle certificates.
	SigstoreRequireSCT bool
	// NotationTrustStore and NotationTrustPolicy are what Notation
	// signatures verify against; notationTrust is them loaded by complete.
	NotationTrustStore  string
	NotationTrustPolicy string
	notationTrust       *attest.NotationTrust
	// IdentityPGPRoots are the OpenPGP fingerprints whose certifications
	// verify voters' identities.
	IdentityPGPRoots []string
	// TLSClientCA verifies client certificates (mTLS).
	TLSClientCA string
	// OperatorSANs and OperatorFingerprints name operators' client
	// certificates.
	OperatorSANs         []string
	OperatorFingerprints []string
	// KeyRegistration is open, operator, or empty for the default by
	// --grpc-addr (see keyRegistration).
	KeyRegistration string
	// InsecurePlaintext allows serving without TLS beyond loopback.
	InsecurePlaintext bool
	Limits            limitsConfig
	// DBRead are the --db-read hot standbys of a PostgreSQL --db, and
	// DBReadWait how long a read-your-writes lookup waits for one.
	DBRead     []string
	DBReadWait time.Duration
}

// defaultDataDir is $XDG_DATA_HOME/trustd, else ~/.local/share/trustd.
func defaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "trustd")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "trustd")
	}
	return "trustd-data"
}

// storeFlags registers the flags that choose the store (shared by serve
// and migrate).
func (c *config) storeFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.ConfigFile, "config", "", "YAML (or TOML, when the name ends in .toml) file whose keys are flag names (data-dir: /var/lib/trustd; lists for repeatable flags); the command line beats the environment, which beats the file; an unknown key is an error; default none (env TRUSTD_CONFIG)")
	fs.StringVar(&c.DataDir, "data-dir", defaultDataDir(), "directory for the embedded SQLite database (env TRUSTD_DATA_DIR)")
	fs.StringVar(&c.DB, "db", "", "database: empty for SQLite in --data-dir, postgres://… for PostgreSQL, or sqlite:PATH (env TRUSTD_DB)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error (env TRUSTD_LOG_LEVEL)")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json (env TRUSTD_LOG_FORMAT)")
}

func (c *config) serveFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&c.DBRead, "db-read", nil, "postgres://… URL of a hot standby of the PostgreSQL --db: lookups (subjects, evidence, reputation, attestations, TUF metadata, log proofs) are spread over the healthy ones, writes go to --db; a standby that fails is read around and re-probed; repeatable; in the environment separate several with ';'; default none: all reads go to --db (env TRUSTD_DB_READ)")
	fs.DurationVar(&c.DBReadWait, "db-read-wait", postgres.DefaultReadWait, "how long a lookup carrying the caller's commit position (x-trustd-min-lsn) waits for a --db-read standby to replay that far before it reads --db instead (default 200ms) (env TRUSTD_DB_READ_WAIT)")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", defaultGRPCAddr, "gRPC listen address (env TRUSTD_GRPC_ADDR)")
	fs.StringVar(&c.HTTPAddr, "http-addr", defaultHTTPAddr, "HTTP listen address for the web view (/, /d/DIGEST, …), the JSON API at /api/, /healthz, /readyz, /metrics, /log/…, /tuf/REPO/FILE; empty disables (env TRUSTD_HTTP_ADDR)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "PEM certificate (chain) served by gRPC and HTTP over TLS, with --tls-key; default none: plaintext, refused beyond loopback without --insecure-plaintext (env TRUSTD_TLS_CERT)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "PEM private key of --tls-cert; default none (env TRUSTD_TLS_KEY)")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", "", "PEM file of CA certificates that verify client certificates (mTLS): a caller presenting one it verifies is authenticated, others are anonymous; needs --tls-cert; default none: no client certificate is asked for (env TRUSTD_TLS_CLIENT_CA)")
	fs.StringSliceVar(&c.OperatorSANs, "operator-cert-san", nil, "subject alternative name (DNS name, email address or URI) of a client certificate, verified by --tls-client-ca, whose holder is an operator; repeatable or comma-separated; default none (env TRUSTD_OPERATOR_CERT_SAN)")
	fs.StringSliceVar(&c.OperatorFingerprints, "operator-cert-fingerprint", nil, "SHA-256 fingerprint (64 hex digits, colons allowed) of a client certificate, verified by --tls-client-ca, whose holder is an operator; repeatable or comma-separated; default none (env TRUSTD_OPERATOR_CERT_FINGERPRINT)")
	fs.StringVar(&c.KeyRegistration, "key-registration", "", "who may register keys: open (any caller) or operator (operator client certificates only); default open when --grpc-addr is loopback, operator otherwise (env TRUSTD_KEY_REGISTRATION)")
	fs.BoolVar(&c.InsecurePlaintext, "insecure-plaintext", false, "serve gRPC and HTTP without TLS on a non-loopback address (a warning is logged at start); default false: refused without --tls-cert (env TRUSTD_INSECURE_PLAINTEXT)")
	fs.StringSliceVar(&c.LogKeys, "log-key", nil, "file holding the statement log's checkpoint signing key; created (0600) if missing; replicas must share it. Two or more files (repeatable or comma-separated) rotate it: the first signs checkpoints, the others co-sign them and the checkpoints announce the first, so clients that pinned an old key move to it (see Rotating trustd's keys, above) (default DATA_DIR/log.key) (env TRUSTD_LOG_KEY)")
	fs.StringVar(&c.LogOrigin, "log-origin", "trustd-log", "name of the log in its checkpoints, used when creating the first --log-key; later keys take the existing keys' name (env TRUSTD_LOG_ORIGIN)")
	fs.IntVar(&c.MaxRequestBytes, "max-request-bytes", 4<<20, "largest gRPC request accepted, exactly: larger ones are refused (ResourceExhausted) unread; it bounds every document (attestations, TUF metadata, OpenPGP manifests) (env TRUSTD_MAX_REQUEST_BYTES)")
	fs.DurationVar(&c.RequestTimeout, "request-timeout", 30*time.Second, "deadline for requests that carry none (env TRUSTD_REQUEST_TIMEOUT)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", 15*time.Second, "grace period for open calls on SIGTERM (env TRUSTD_SHUTDOWN_TIMEOUT)")
	fs.StringVar(&c.TUFKeysDir, "tuf-keys-dir", "", "directory of the TUF online keys (snapshot*.pem, timestamp*.pem, mode 0600); missing ones are generated (default DATA_DIR/tuf-keys) (env TRUSTD_TUF_KEYS_DIR)")
	fs.StringVar(&c.TUFKeyType, "tuf-key-type", "ed25519", "type of generated TUF online keys: ed25519, ecdsa-p256 or rsa (env TRUSTD_TUF_KEY_TYPE)")
	fs.DurationVar(&c.TUFSnapshotTTL, "tuf-snapshot-expiry", tuf.DefaultSnapshotExpiry, "lifetime of newly signed TUF snapshot metadata (env TRUSTD_TUF_SNAPSHOT_EXPIRY)")
	fs.DurationVar(&c.TUFTimestampTTL, "tuf-timestamp-expiry", tuf.DefaultTimestampExpiry, "lifetime of newly signed TUF timestamp metadata (env TRUSTD_TUF_TIMESTAMP_EXPIRY)")
	fs.StringSliceVar(&c.TokenKeys, "token-key", nil, "file holding the token signing key (PEM); an ed25519 key is created (0600) if missing; replicas must share it. Several files (repeatable or comma-separated) rotate it: the first signs tokens, every one is published in trustd/keys, and verifiers accept tokens signed by any (see Rotating trustd's keys, above) (default DATA_DIR/token.key) (env TRUSTD_TOKEN_KEY)")
	fs.DurationVar(&c.TokenTTL, "token-ttl", server.DefaultTokenTTL, "lifetime of issued deploy tokens (env TRUSTD_TOKEN_TTL)")
	c.TokenPolicies.flags(fs)
	fs.StringVar(&c.TUFRepoCreation, "tuf-repo-creation", "auto", "who may create TUF repositories: open (anyone; names under trustd/ and names a --tuf-repo-owner claims excepted), owners (only a root v1 signed by a --tuf-operator-key, or by a --tuf-repo-owner key under its pattern; closed to all when neither is given), or auto: open when --grpc-addr and --http-addr are both loopback, owners otherwise (env TRUSTD_TUF_REPO_CREATION)")
	fs.StringSliceVar(&c.TUFOperatorKeys, "tuf-operator-key", nil, "key id (64 hex digits, as 'trustctl key generate' prints it) that may create any TUF repository outside trustd/: it must be a root key of the new repository's root v1 and sign it; repeatable or comma-separated; default none (env TRUSTD_TUF_OPERATOR_KEY)")
	fs.StringArrayVar(&c.WitnessSpecs, "witness", nil, "VKEY=URL: a transparency-log witness (C2SP tlog-witness) to push every new checkpoint to: its cosignature/v1 verifier key (name+hash+key, as the witness prints it) and its submission URL prefix (http or https; /add-checkpoint is appended); its cosignatures are stored and served with the checkpoint; repeatable; in the environment separate several with ';'; default none (env TRUSTD_WITNESS)")
	fs.DurationVar(&c.WitnessInterval, "witness-interval", 5*time.Second, "how often to push a new checkpoint to the --witness witnesses when the log grew; the cosigned checkpoint served lags the log by at most about this (default 5s) (env TRUSTD_WITNESS_INTERVAL)")
	fs.StringArrayVar(&c.TUFRepoOwners, "tuf-repo-owner", nil, "PATTERN=KEYID[,KEYID...]: a repository matching PATTERN (acme/* for every name below acme/, or one exact name; the most specific pattern decides) is created only by a root v1 signed by one of these root keys (or an operator key), whatever --tuf-repo-creation says; repeatable; in the environment separate several with ';'; default none (env TRUSTD_TUF_REPO_OWNER)")
	fs.DurationVar(&c.TUFRefresh, "tuf-refresh-interval", 10*time.Minute, "how often to re-sign TUF timestamps and snapshots that are past half their lifetime (env TRUSTD_TUF_REFRESH_INTERVAL)")
	fs.IntVar(&c.VoteRate, "vote-rate-limit", 600, "feedback statements (votes, trust statements, responses) one key may submit per --vote-rate-window; 0 disables (env TRUSTD_VOTE_RATE_LIMIT)")
	fs.DurationVar(&c.VoteRateWindow, "vote-rate-window", time.Hour, "window of --vote-rate-limit (env TRUSTD_VOTE_RATE_WINDOW)")
	fs.DurationVar(&c.VoteMaxSkew, "vote-max-skew", 5*time.Minute, "how far ahead of the server clock a feedback statement's signed timestamp may be (env TRUSTD_VOTE_MAX_SKEW)")
	c.Rev.flags(fs)
	c.Limits.flags(fs)
	fs.BoolVar(&c.Location.AllowHTTP, "location-allow-http", false, "accept location claims with plain http URLs (loopback tests); default false: https and oci only (env TRUSTD_LOCATION_ALLOW_HTTP)")
	fs.BoolVar(&c.Location.AllowPrivate, "location-allow-private", false, "accept location claims naming loopback, link-local or private IP addresses or localhost; default false (env TRUSTD_LOCATION_ALLOW_PRIVATE)")
	fs.IntVar(&c.Location.MaxPerDigest, "max-locations-per-digest", location.DefaultMaxPerDigest, "location claims one digest may have; a publisher of the digest may always add its own (env TRUSTD_MAX_LOCATIONS_PER_DIGEST)")
	fs.IntVar(&c.MaxAttestationBytes, "max-attestation-bytes", 0, "largest in-toto statement (predicate included: SBOMs) accepted; signed, it is a third larger and must fit in --max-request-bytes; 0 (default) takes the largest that fits (3,093,503 under the default 4 MiB request cap) (env TRUSTD_MAX_ATTESTATION_BYTES)")
	fs.StringVar(&c.SigstoreTrustedRoot, "sigstore-trusted-root", "", "Sigstore trusted_root.json that keyless bundles verify against (Fulcio CAs, Rekor logs, TSAs); re-read on SIGHUP and when it changes; empty refuses bundles (env TRUSTD_SIGSTORE_TRUSTED_ROOT)")
	fs.BoolVar(&c.SigstoreRequireSCT, "sigstore-require-sct", true, "require bundle certificates to carry a signed certificate timestamp from a CT log of the trusted root, as Fulcio issues them; false for private CAs without CT (env TRUSTD_SIGSTORE_REQUIRE_SCT)")
	fs.StringSliceVar(&c.IdentityPGPRoots, "identity-pgp-root", nil, "fingerprint of a registered OpenPGP certificate whose certifications (gpg --sign-key) make a voter's OpenPGP key a verified identity for reputation --verified-only; repeatable or comma-separated (env TRUSTD_IDENTITY_PGP_ROOT)")
	fs.DurationVar(&c.SigstoreRootCheck, "sigstore-trusted-root-check", time.Minute, "how often to check --sigstore-trusted-root for changes (env TRUSTD_SIGSTORE_TRUSTED_ROOT_CHECK)")
	fs.StringVar(&c.NotationTrustStore, "notation-trust-store", "", "Notation X.509 trust store directory, laid out as Notation's own (DIR/x509/ca|signingAuthority|tsa/NAME/*.pem), that Notation signatures verify against; its certificates are re-read at every verification; give --notation-trust-policy with it; default empty refuses Notation signatures (env TRUSTD_NOTATION_TRUST_STORE)")
	fs.StringVar(&c.NotationTrustPolicy, "notation-trust-policy", "", "Notation trust policy (trustpolicy.json, version 1.0) choosing by registry scope the trust stores and trusted identities a signature must match; skip and audit levels are refused; read at start; default empty refuses Notation signatures (env TRUSTD_NOTATION_TRUST_POLICY)")
}

// complete reads the environment and checks every value, naming the flag
// at fault.
func (c *config) complete(fs *pflag.FlagSet) error {
	if err := c.layer(fs); err != nil {
		return err
	}
	var errs []error
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("--log-format: %q is not text or json", c.LogFormat))
	}
	if fs.Lookup("grpc-addr") != nil {
		errs = append(errs, c.checkDBRead())
		if err := checkAddr("--grpc-addr", c.GRPCAddr, false); err != nil {
			errs = append(errs, err)
		}
		if err := checkAddr("--http-addr", c.HTTPAddr, true); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, checkKeyFiles("--log-key", c.LogKeys), checkKeyFiles("--token-key", c.TokenKeys),
			checkKeyFiles("--revocation-list-key", c.Rev.ListKeys))
		if (c.TLSCert == "") != (c.TLSKey == "") {
			errs = append(errs, errors.New("--tls-cert and --tls-key: give both or neither"))
		}
		errs = append(errs, c.checkAuth()...)
		if err := c.checkDocumentSizes(); err != nil {
			errs = append(errs, err)
		}
		if c.RequestTimeout <= 0 || c.ShutdownTimeout <= 0 {
			errs = append(errs, errors.New("--request-timeout and --shutdown-timeout must be positive"))
		}
		switch c.TUFKeyType {
		case envelope.KeyTypeED25519, envelope.KeyTypeECDSAP256, envelope.KeyTypeRSA:
		default:
			errs = append(errs, fmt.Errorf("--tuf-key-type: %q is not ed25519, ecdsa-p256 or rsa", c.TUFKeyType))
		}
		if c.TUFSnapshotTTL < time.Minute || c.TUFTimestampTTL < time.Minute {
			errs = append(errs, errors.New("--tuf-snapshot-expiry and --tuf-timestamp-expiry must be at least 1m"))
		}
		if c.VoteRate < 0 || (c.VoteRate > 0 && c.VoteRateWindow <= 0) {
			errs = append(errs, errors.New("--vote-rate-limit must not be negative, and --vote-rate-window must be positive with it"))
		}
		if c.Location.MaxPerDigest < 1 {
			errs = append(errs, fmt.Errorf("--max-locations-per-digest: %d is below 1", c.Location.MaxPerDigest))
		}
		if c.VoteMaxSkew <= 0 {
			errs = append(errs, errors.New("--vote-max-skew must be positive"))
		}
		if c.SigstoreRootCheck <= 0 {
			errs = append(errs, errors.New("--sigstore-trusted-root-check must be positive"))
		}
		if err := c.completeNotation(); err != nil {
			errs = append(errs, err)
		}
		if c.TUFRefresh <= 0 || c.TUFRefresh >= c.TUFTimestampTTL/2 {
			errs = append(errs, fmt.Errorf("--tuf-refresh-interval: %s must be positive and below half of --tuf-timestamp-expiry (%s), or timestamps would expire between refreshes", c.TUFRefresh, c.TUFTimestampTTL))
		}
		if _, err := identity.New(nil, identity.Options{PGPRoots: c.IdentityPGPRoots}); err != nil {
			errs = append(errs, fmt.Errorf("--identity-pgp-root: %w", err))
		}
		if err := c.Rev.check(c.loopbackOnly()); err != nil {
			errs = append(errs, err)
		}
		if err := c.TokenPolicies.check(); err != nil {
			errs = append(errs, err)
		}
		if err := c.completeTUFCreation(); err != nil {
			errs = append(errs, err)
		}
		if err := c.Limits.check(); err != nil {
			errs = append(errs, err)
		}
		if err := c.completeWitnesses(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// completeWitnesses parses --witness (several per value, ';'-separated,
// for the environment) and checks --witness-interval.
func (c *config) completeWitnesses() error {
	var specs []string
	for _, v := range c.WitnessSpecs {
		for one := range strings.SplitSeq(v, ";") {
			if strings.TrimSpace(one) != "" {
				specs = append(specs, one)
			}
		}
	}
	ws, err := witness.ParseAll(specs)
	if err != nil {
		return fmt.Errorf("--witness: %w", err)
	}
	c.witnesses = ws
	if c.WitnessInterval < 100*time.Millisecond {
		return fmt.Errorf("--witness-interval: %s is below 100ms", c.WitnessInterval)
	}
	return nil
}

// completeNotation loads --notation-trust-store and --notation-trust-policy
// (both or neither), so a bad trust policy or a missing trust store stops
// the start.
func (c *config) completeNotation() error {
	c.notationTrust = nil
	switch {
	case c.NotationTrustStore == "" && c.NotationTrustPolicy == "":
		return nil
	case c.NotationTrustStore == "" || c.NotationTrustPolicy == "":
		return errors.New("--notation-trust-store and --notation-trust-policy: give both or neither")
	}
	nt, err := attest.LoadNotationTrust(c.NotationTrustStore, c.NotationTrustPolicy)
	if err != nil {
		return fmt.Errorf("--notation-trust-store %s, --notation-trust-policy %s: %w", c.NotationTrustStore, c.NotationTrustPolicy, err)
	}
	c.notationTrust = nt
	return nil
}

// completeTUFCreation resolves --tuf-repo-creation (auto: open only when
// every listener is on loopback), --tuf-operator-key and --tuf-repo-owner
// into the creation policy.
func (c *config) completeTUFCreation() error {
	var errs []error
	p := tuf.CreationPolicy{}
	switch c.TUFRepoCreation {
	case "open":
	case "owners":
		p.Closed = true
	case "auto":
		loopback, _ := c.loopbackOnly()
		p.Closed = !loopback
	default:
		errs = append(errs, fmt.Errorf("--tuf-repo-creation: %q is not auto, open or owners", c.TUFRepoCreation))
	}
	for _, id := range c.TUFOperatorKeys {
		p.Operators = append(p.Operators, strings.ToLower(strings.TrimSpace(id)))
	}
	for _, v := range c.TUFRepoOwners {
		for one := range strings.SplitSeq(v, ";") {
			if strings.TrimSpace(one) == "" {
				continue
			}
			o, err := tuf.ParseOwner(one)
			if err != nil {
				errs = append(errs, fmt.Errorf("--tuf-repo-owner: %w", err))
				continue
			}
			p.Owners = append(p.Owners, o)
		}
	}
	if err := p.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--tuf-operator-key / --tuf-repo-owner: %w", err))
	}
	c.tufCreation = p
	return errors.Join(errs...)
}

// checkAuth checks the TLS, client certificate and authorisation flags,
// and that nothing is served in plaintext beyond loopback unasked.
func (c *config) checkAuth() []error {
	var errs []error
	if c.TLSCert == "" && !c.InsecurePlaintext {
		for _, a := range []struct{ flag, addr string }{{"--grpc-addr", c.GRPCAddr}, {"--http-addr", c.HTTPAddr}} {
			if a.addr != "" && !isLoopback(a.addr) {
				errs = append(errs, fmt.Errorf("%s: %s is beyond loopback and no --tls-cert is given: serve TLS (--tls-cert, --tls-key), or pass --insecure-plaintext to serve plaintext anyway", a.flag, a.addr))
			}
		}
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		errs = append(errs, errors.New("--tls-client-ca: client certificates need TLS: give --tls-cert and --tls-key"))
	}
	operators := len(c.OperatorSANs)+len(c.OperatorFingerprints) > 0
	if operators && c.TLSClientCA == "" {
		errs = append(errs, errors.New("--operator-cert-san, --operator-cert-fingerprint: operator certificates must be verified: give --tls-client-ca"))
	}
	for _, san := range c.OperatorSANs {
		if strings.TrimSpace(san) == "" {
			errs = append(errs, errors.New("--operator-cert-san: an empty name"))
		}
	}
	for _, f := range c.OperatorFingerprints {
		if _, err := server.ParseFingerprint(f); err != nil {
			errs = append(errs, fmt.Errorf("--operator-cert-fingerprint: %w", err))
		}
	}
	switch reg := c.keyRegistration(); {
	case reg != server.KeyRegistrationOpen && reg != server.KeyRegistrationOperator:
		errs = append(errs, fmt.Errorf("--key-registration: %q is not open or operator", c.KeyRegistration))
	case reg == server.KeyRegistrationOperator && !operators:
		how := "is operator"
		if c.KeyRegistration == "" {
			how = "defaults to operator when --grpc-addr is beyond loopback"
		}
		errs = append(errs, fmt.Errorf("--key-registration %s, but no operator is configured: name operator certificates (--operator-cert-san, --operator-cert-fingerprint), or pass --key-registration open", how))
	}
	return errs
}

// keyRegistration is --key-registration, or its default: open on
// loopback, operator beyond.
func (c *config) keyRegistration() server.KeyRegistration {
	if c.KeyRegistration != "" {
		return server.KeyRegistration(c.KeyRegistration)
	}
	if isLoopback(c.GRPCAddr) {
		return server.KeyRegistrationOpen
	}
	return server.KeyRegistrationOperator
}

// authz is the server's authorisation configuration.
func (c *config) authz() server.Authz {
	return server.Authz{OperatorSANs: c.OperatorSANs, OperatorFingerprints: c.OperatorFingerprints, KeyRegistration: c.keyRegistration()}
}

// minStatementBytes is the smallest --max-attestation-bytes accepted.
const minStatementBytes = 1024

// checkDocumentSizes checks --max-request-bytes and fills in
// --max-attestation-bytes when it is 0: the request cap is exact, so an
// attestation, once signed, must fit in it.
func (c *config) checkDocumentSizes() error {
	fits := attest.MaxStatementWithin(c.MaxRequestBytes)
	least := minStatementBytes
	if c.MaxAttestationBytes > 0 {
		least = c.MaxAttestationBytes
	}
	smallestRequest := attest.EnvelopeBound(least) + attest.RequestOverhead
	switch {
	case c.MaxAttestationBytes < 0:
		return fmt.Errorf("--max-attestation-bytes: %d is negative", c.MaxAttestationBytes)
	case c.MaxAttestationBytes > 0 && c.MaxAttestationBytes < minStatementBytes:
		return fmt.Errorf("--max-attestation-bytes: %d is below the minimum %d", c.MaxAttestationBytes, minStatementBytes)
	case fits < least:
		return fmt.Errorf("--max-request-bytes: %d cannot carry a signed statement of %d bytes (--max-attestation-bytes); it needs at least %d",
			c.MaxRequestBytes, least, smallestRequest)
	case c.MaxAttestationBytes == 0:
		c.MaxAttestationBytes = fits
	}
	return nil
}

func checkAddr(flag, addr string, mayBeEmpty bool) error {
	if addr == "" && mayBeEmpty {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%s: %q is not host:port: %w", flag, addr, err)
	}
	return nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("--log-level: %q is not debug, info, warn or error", s)
	}
	return l, nil
}

func (c *config) logger() *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// checkDBRead splits --db-read values at ';' (several in the
// environment) and checks them and --db-read-wait: standbys need a
// PostgreSQL --db, and are PostgreSQL URLs themselves.
func (c *config) checkDBRead() error {
	var errs []error
	var urls []string
	for _, v := range c.DBRead {
		for one := range strings.SplitSeq(v, ";") {
			if one = strings.TrimSpace(one); one != "" {
				urls = append(urls, one)
			}
		}
	}
	c.DBRead = urls
	if len(c.DBRead) > 0 && !isPostgres(c.DB) {
		errs = append(errs, errors.New("--db-read: read standbys need a PostgreSQL --db (postgres://…)"))
	}
	for i, u := range c.DBRead {
		if !isPostgres(u) {
			errs = append(errs, fmt.Errorf("--db-read %d: not a postgres:// or postgresql:// URL", i+1))
		}
	}
	if c.DBReadWait < 0 || c.DBReadWait > time.Minute {
		errs = append(errs, fmt.Errorf("--db-read-wait: %v is not between 0 and 1m", c.DBReadWait))
	}
	return errors.Join(errs...)
}

// backend describes the configured store without secrets, for logs.
func (c *config) backend() string {
	if isPostgres(c.DB) {
		return "postgres"
	}
	return "sqlite " + c.sqlitePath()
}

// backendKind is the database backend kind, sqlite or postgres, as
// GetServerInfo reports it.
func (c *config) backendKind() string {
	if isPostgres(c.DB) {
		return "postgres"
	}
	return "sqlite"
}

func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

func (c *config) sqlitePath() string {
	if p, ok := strings.CutPrefix(c.DB, "sqlite:"); ok {
		return p
	}
	return filepath.Join(c.DataDir, "trustd.db")
}

// openStore opens and migrates the configured store.
func (c *config) openStore(ctx context.Context) (store.Store, error) {
	switch {
	case isPostgres(c.DB):
		s, err := postgres.OpenWith(ctx, c.DB, postgres.Options{ReadURLs: c.DBRead, ReadWait: c.DBReadWait, Logger: c.logger()})
		if err != nil {
			if len(c.DBRead) > 0 && errors.Is(err, store.ErrInvalid) {
				return nil, fmt.Errorf("--db or --db-read: %w", err)
			}
			return nil, fmt.Errorf("--db: %w", err)
		}
		return s, nil
	case c.DB == "" || strings.HasPrefix(c.DB, "sqlite:"):
		path := c.sqlitePath()
		if err := ensureWritableDir(filepath.Dir(path)); err != nil {
			if c.DB == "" {
				return nil, fmt.Errorf("--data-dir: %w", err)
			}
			return nil, fmt.Errorf("--db: %w", err)
		}
		lock, err := lockDataDir(filepath.Dir(path))
		if err != nil {
			if c.DB == "" {
				return nil, fmt.Errorf("--data-dir: %w", err)
			}
			return nil, fmt.Errorf("--db: %w", err)
		}
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			lock.release()
			return nil, err
		}
		return &lockedStore{Store: s, lock: lock}, nil
	}
	return nil, fmt.Errorf("--db: %q is neither postgres://…, postgresql://… nor sqlite:PATH", c.DB)
}

// lockedStore is an SQLite store together with the lock of its directory,
// released when the store closes.
type lockedStore struct {
	store.Store
	lock *dirLock
}

// Close closes the store, then releases the directory's lock.
func (s *lockedStore) Close() error {
	err := s.Store.Close()
	s.lock.release()
	return err
}

// tufKeysDir is --tuf-keys-dir, or tuf-keys in the data directory.
func (c *config) tufKeysDir() (string, error) {
	if c.TUFKeysDir != "" {
		return c.TUFKeysDir, nil
	}
	if err := ensureWritableDir(c.DataDir); err != nil {
		return "", fmt.Errorf("--data-dir (for the TUF online keys): %w", err)
	}
	return filepath.Join(c.DataDir, "tuf-keys"), nil
}

// ensureWritableDir creates dir (0700) if needed and proves it writable.
func ensureWritableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cannot create data directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %w", dir, errors.Unwrap(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func (c *config) tlsConfig() (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.TLSClientCA != "" {
		pem, err := os.ReadFile(c.TLSClientCA)
		if err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-client-ca: %s holds no PEM certificate", c.TLSClientCA)
		}
		// Asked for, verified when given; a caller without one is
		// anonymous, and the authorisation table decides what it may call.
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// locationConfig holds the location claim flags.
type locationConfig struct {
	AllowHTTP, AllowPrivate bool
	MaxPerDigest            int
}
