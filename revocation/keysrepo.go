package revocation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"

	"github.com/trustd-dev/trustd/envelope"
	"github.com/trustd-dev/trustd/tuf"
)

// KeysRepo is the TUF repository trustd creates at its first start, before
// it serves, to distribute its own public keys (the token key, the
// revocation list key): clients pin its root and fetch keys with any TUF
// client. Its name is reserved (tuf.Reserved): no caller can create it.
const KeysRepo = "trustd/keys"

// ErrKeysRepoForeign reports a KeysRepo whose current root does not name
// this server's system root and targets keys: someone else created it (a
// takeover before trustd first started), or this replica does not share the
// system keys of the one that did. trustd refuses to start on it.
var ErrKeysRepoForeign = errors.New("trustd/keys is not this server's")

// publishAttempts bounds how often PublishKey retries when another replica
// publishes into KeysRepo at the same moment.
const publishAttempts = 8

// ListKeyTarget is the target name of the revocation list key in KeysRepo.
const ListKeyTarget = "revocation-list.pub"

// Lifetimes of the system repository's offline-role metadata, and the
// remaining lifetime below which PublishKey re-signs the targets role.
const (
	SystemRootValidity    = 5 * 365 * 24 * time.Hour
	SystemTargetsValidity = 365 * 24 * time.Hour
	SystemTargetsRenew    = 90 * 24 * time.Hour
)

// Key file names in the system keys directory.
const (
	systemRootKeyFile    = "system-root.pem"
	systemTargetsKeyFile = "system-targets.pem"
)

// KeyCustom is the custom field of a key target: the public key itself
// (PEM, the target's bytes, so length and hashes cover it) and its id.
type KeyCustom struct {
	KeyID     string `json:"keyid"`
	KeyType   string `json:"keytype"`
	PublicKey string `json:"publicKey"`
}

// KeyPublisher keeps KeysRepo: it creates the repository with trustd-held
// root and targets keys and publishes public keys as targets.
type KeyPublisher struct {
	svc     *tuf.Service
	state   tuf.State
	online  *tuf.OnlineKeys
	root    signature.Signer
	targets signature.Signer
	// mu serialises PublishKey: each key's publication re-signs the one
	// targets role, so two at once would race for its next version.
	mu sync.Mutex
}

// loadOrCreate loads a private key file (0600), generating it first if
// missing.
func loadOrCreate(path string) (signature.Signer, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := tuf.GenerateOnlineKey(path, envelope.KeyTypeED25519); err != nil {
			return nil, err
		}
	}
	return tuf.LoadOnlineKey(path)
}

// NewKeyPublisher loads (creating if missing, mode 0600) the system
// repository's root and targets keys from dir.
func NewKeyPublisher(svc *tuf.Service, state tuf.State, online *tuf.OnlineKeys, dir string) (*KeyPublisher, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("revocation: system keys: %w", err)
	}
	root, err := loadOrCreate(filepath.Join(dir, systemRootKeyFile))
	if err != nil {
		return nil, fmt.Errorf("revocation: system keys: %w", err)
	}
	targets, err := loadOrCreate(filepath.Join(dir, systemTargetsKeyFile))
	if err != nil {
		return nil, fmt.Errorf("revocation: system keys: %w", err)
	}
	return &KeyPublisher{svc: svc, state: state, online: online, root: root, targets: targets}, nil
}

// Start makes KeysRepo exist with trustd's root (Ensure) and publishes
// keys in it, so that from trustd's first start the repository is trustd's
// and holds its keys before any client asks. It is idempotent (a restart
// publishes nothing new) and safe when replicas start at once on one
// database: the loser of a race re-reads the winner's repository.
func (p *KeyPublisher) Start(ctx context.Context, keys ...*PublishedKey) error {
	nks := make([]namedKey, len(keys))
	for i, k := range keys {
		nks[i] = namedKey{k.name, k.key}
	}
	// One targets version carries them all.
	if err := p.publish(ctx, nks); err != nil {
		return err
	}
	for _, k := range keys {
		k.published()
	}
	return nil
}

// Ensure creates KeysRepo with root v1 if it does not exist yet, and checks
// that its current root names this server's system root and targets keys
// (ErrKeysRepoForeign otherwise). A replica that loses the race to create
// it checks the winner's root the same way.
func (p *KeyPublisher) Ensure(ctx context.Context) error {
	current, err := p.state.Get(ctx, KeysRepo, metadata.ROOT, 0)
	switch {
	case err == nil:
		return p.checkOurs(current)
	case !errors.Is(err, tuf.ErrNotFound):
		return fmt.Errorf("revocation: %s: %w", KeysRepo, err)
	}
	rootKey, _, err := tuf.PublicKeyOf(p.root)
	if err != nil {
		return fmt.Errorf("revocation: %s: %w", KeysRepo, err)
	}
	targetsKey, _, err := tuf.PublicKeyOf(p.targets)
	if err != nil {
		return fmt.Errorf("revocation: %s: %w", KeysRepo, err)
	}
	md, err := tuf.NewRoot(tuf.RootSpec{Version: 1, Expires: time.Now().Add(SystemRootValidity),
		Root: tuf.KeySet{Keys: []*metadata.Key{rootKey}, Threshold: 1}, Targets: tuf.KeySet{Keys: []*metadata.Key{targetsKey}, Threshold: 1},
		Snapshot: tuf.Keys(p.online.Keys(metadata.SNAPSHOT)), Timestamp: tuf.Keys(p.online.Keys(metadata.TIMESTAMP))})
	if err != nil {
		return fmt.Errorf("revocation: %s: %w", KeysRepo, err)
	}
	signed, err := tuf.Sign(md, p.root)
	if err != nil {
		return fmt.Errorf("revocation: %s: %w", KeysRepo, err)
	}
	_, err = p.svc.InitReserved(ctx, KeysRepo, signed)
	if errors.Is(err, tuf.ErrRepoExists) {
		// Another replica created it first: it must be ours too.
		if current, err = p.state.Get(ctx, KeysRepo, metadata.ROOT, 0); err != nil {
			return fmt.Errorf("revocation: %s: created concurrently, re-read: %w", KeysRepo, err)
		}
		return p.checkOurs(current)
	}
	if err != nil {
		return fmt.Errorf("revocation: %s: %w", KeysRepo, err)
	}
	return nil
}

// checkOurs checks that root (KeysRepo's current root) names this server's
// system root key among its root keys and its targets key among its targets
// keys.
func (p *KeyPublisher) checkOurs(root []byte) error {
	md, err := (&metadata.Metadata[metadata.RootType]{}).FromBytes(root)
	if err != nil {
		return fmt.Errorf("revocation: %s: stored root: %w", KeysRepo, err)
	}
	_, rootID, err := tuf.PublicKeyOf(p.root)
	if err != nil {
		return fmt.Errorf("revocation: %s: %w", KeysRepo, err)
	}
	_, targetsID, err := tuf.PublicKeyOf(p.targets)
	if err != nil {
		return fmt.Errorf("revocation: %s: %w", KeysRepo, err)
	}
	roots, targets := md.Signed.Roles[metadata.ROOT].KeyIDs, md.Signed.Roles[metadata.TARGETS].KeyIDs
	if slices.Contains(roots, rootID) && slices.Contains(targets, targetsID) {
		return nil
	}
	return fmt.Errorf("revocation: %w: its root v%d has root keys %s and targets keys %s, but this server's system keys are %s (root) and %s (targets): "+
		"it was created by someone else before trustd first started, or this replica does not share the system keys directory (TUF_KEYS_DIR/keys-repo) of the one that created it; "+
		"trustd will not publish its keys there",
		ErrKeysRepoForeign, md.Signed.Version, strings.Join(roots, ", "), strings.Join(targets, ", "), rootID, targetsID)
}

// PublishKey publishes pub as target name of KeysRepo (the PEM bytes, with
// the key in the target's custom field), unless the current targets
// already list exactly that key and are not due for renewal. It is how
// every trustd-held key reaches clients: the revocation list key, the
// token key. When another replica publishes at the same moment, it re-reads
// the targets and tries again (a few times), so the race never reaches a
// caller.
func (p *KeyPublisher) PublishKey(ctx context.Context, name string, pub envelope.PublicKey) error {
	return p.publish(ctx, []namedKey{{name, pub}})
}

// namedKey is a public key and its target name in KeysRepo.
type namedKey struct {
	name string
	key  envelope.PublicKey
}

// publish is PublishKey for several keys at once: one targets version
// carries every key that is missing or changed.
func (p *KeyPublisher) publish(ctx context.Context, keys []namedKey) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.Ensure(ctx); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := p.publishOnce(ctx, keys)
		if err == nil || attempt == publishAttempts || !(errors.Is(err, tuf.ErrConflict) || errors.Is(err, tuf.ErrVersion)) {
			return err
		}
		// Lost a race with another replica's publish: back off a little
		// (jittered, so two losers do not collide again) and re-read.
		select {
		case <-ctx.Done():
			return fmt.Errorf("revocation: publish keys in %s: %w", KeysRepo, ctx.Err())
		case <-time.After(time.Duration(attempt) * time.Duration(5+rand.IntN(20)) * time.Millisecond):
		}
	}
}

// publishOnce is one attempt of publish: it reads the current targets and
// uploads the next version if a key is missing or changed, or the targets
// are due for renewal.
func (p *KeyPublisher) publishOnce(ctx context.Context, keys []namedKey) error {
	current, err := p.state.Get(ctx, KeysRepo, metadata.TARGETS, 0)
	if err != nil && !errors.Is(err, tuf.ErrNotFound) {
		return fmt.Errorf("revocation: %s targets: %w", KeysRepo, err)
	}
	var have map[string]*metadata.TargetFiles
	renew := true
	if current != nil {
		md, err := (&metadata.Metadata[metadata.TargetsType]{}).FromBytes(current)
		if err != nil {
			return fmt.Errorf("revocation: %s targets: %w", KeysRepo, err)
		}
		have, renew = md.Signed.Targets, time.Until(md.Signed.Expires) <= SystemTargetsRenew
	}
	md, err := tuf.NextTargets(current, time.Now().Add(SystemTargetsValidity))
	if err != nil {
		return fmt.Errorf("revocation: %s targets: %w", KeysRepo, err)
	}
	var names []string
	for _, k := range keys {
		pemBytes := k.key.Encode()
		if tf, ok := have[k.name]; ok && tf.VerifyLengthHashes(pemBytes) == nil {
			continue
		}
		n, ds, err := tuf.HashTarget(ctx, bytes.NewReader(pemBytes))
		if err != nil {
			return fmt.Errorf("revocation: publish key %s: %w", k.name, err)
		}
		custom, err := json.Marshal(KeyCustom{KeyID: k.key.ID, KeyType: k.key.Type, PublicKey: string(pemBytes)})
		if err != nil {
			return fmt.Errorf("revocation: publish key %s: %w", k.name, err)
		}
		tf, err := tuf.NewTargetFile(n, ds, custom)
		if err != nil {
			return fmt.Errorf("revocation: publish key %s: %w", k.name, err)
		}
		tf.Path = k.name
		md.Signed.Targets[k.name] = tf
		names = append(names, k.name)
	}
	if len(names) == 0 && !renew {
		return nil
	}
	signed, err := tuf.Sign(md, p.targets)
	if err != nil {
		return fmt.Errorf("revocation: publish keys %s: %w", strings.Join(names, ", "), err)
	}
	if _, err := p.svc.Upload(ctx, KeysRepo, metadata.TARGETS, signed); err != nil {
		return fmt.Errorf("revocation: publish keys %s in %s: %w", strings.Join(names, ", "), KeysRepo, err)
	}
	return nil
}

// FetchKey is the client side of KeysRepo: go-tuf's updater refreshes the
// repository at repoURL (http://HOST/tuf/trustd/keys) into metadataDir,
// trusting the root stored there from an earlier fetch or else the pinned
// root, and returns the public key of target name, checked against the
// target's length and hashes.
func FetchKey(repoURL string, pinnedRoot []byte, metadataDir, name string) (envelope.PublicKey, error) {
	return readKey(repoURL, pinnedRoot, metadataDir, name, false)
}

// CachedKey is FetchKey with no network: go-tuf's local mode verifies the
// metadata an earlier FetchKey stored in metadataDir (signatures,
// thresholds, versions and expiry, from the stored or else the pinned
// root) and returns the public key of target name. Expired metadata fails
// with metadata.ErrExpiredMetadata in the chain; fetch again to renew it.
func CachedKey(pinnedRoot []byte, metadataDir, name string) (envelope.PublicKey, error) {
	// go-tuf wants a remote URL even in local mode, which never uses it.
	return readKey("file://"+filepath.ToSlash(metadataDir), pinnedRoot, metadataDir, name, true)
}

// readKey is FetchKey, or CachedKey when local.
func readKey(repoURL string, pinnedRoot []byte, metadataDir, name string, local bool) (envelope.PublicKey, error) {
	if err := os.MkdirAll(metadataDir, 0o700); err != nil {
		return envelope.PublicKey{}, fmt.Errorf("revocation: tuf: %w", err)
	}
	root := pinnedRoot
	if stored, err := os.ReadFile(filepath.Join(metadataDir, "root.json")); err == nil {
		root = stored
	}
	if len(root) == 0 {
		return envelope.PublicKey{}, fmt.Errorf("revocation: tuf: no trusted root: pin the root of %s (%s/1.root.json, checked out of band)", KeysRepo, repoURL)
	}
	cfg, err := config.New(repoURL, root)
	if err != nil {
		return envelope.PublicKey{}, fmt.Errorf("revocation: tuf: %w", err)
	}
	cfg.LocalMetadataDir = metadataDir
	cfg.LocalTargetsDir = filepath.Join(metadataDir, "targets")
	cfg.UnsafeLocalMode = local
	// Local mode reads the cache and learns nothing new: writing the root
	// back (as updater.New does) would cost a file write per verification.
	cfg.DisableLocalCache = local
	up, err := updater.New(cfg)
	if err != nil {
		return envelope.PublicKey{}, fmt.Errorf("revocation: tuf: %w", err)
	}
	if err := up.Refresh(); local && errors.Is(err, fs.ErrNotExist) {
		return envelope.PublicKey{}, fmt.Errorf("revocation: tuf: no cached metadata of %s in %s: fetch it once online (trustctl token key --root, or trustctl revocations sync): %w", KeysRepo, metadataDir, err)
	} else if err != nil {
		return envelope.PublicKey{}, fmt.Errorf("revocation: tuf refresh of %s: %w", KeysRepo, err)
	}
	ti, err := up.GetTargetInfo(name)
	if err != nil {
		return envelope.PublicKey{}, fmt.Errorf("revocation: tuf target %s: %w", name, err)
	}
	if ti.Custom == nil {
		return envelope.PublicKey{}, fmt.Errorf("revocation: tuf target %s: %w: no custom field with the key", name, ErrBadList)
	}
	var kc KeyCustom
	if err := json.Unmarshal(*ti.Custom, &kc); err != nil {
		return envelope.PublicKey{}, fmt.Errorf("revocation: tuf target %s: custom: %w: %w", name, ErrBadList, err)
	}
	if err := ti.VerifyLengthHashes([]byte(kc.PublicKey)); err != nil {
		return envelope.PublicKey{}, fmt.Errorf("revocation: tuf target %s: %w: %w", name, ErrBadList, err)
	}
	pub, err := envelope.ParsePublicKey([]byte(kc.PublicKey))
	if err != nil {
		return envelope.PublicKey{}, fmt.Errorf("revocation: tuf target %s: %w", name, err)
	}
	return pub, nil
}

// LoadListKey loads the revocation list signing key from path, generating
// an ed25519 key (mode 0600) if the file does not exist.
func LoadListKey(path string) (envelope.Signer, envelope.PublicKey, error) {
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		priv, _, err := envelope.GenerateKey(envelope.KeyTypeED25519)
		if err != nil {
			return nil, envelope.PublicKey{}, fmt.Errorf("revocation: list key: %w", err)
		}
		if err := envelope.WritePrivateKeyFile(path, priv); err != nil {
			return nil, envelope.PublicKey{}, fmt.Errorf("revocation: list key: %w", err)
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, envelope.PublicKey{}, fmt.Errorf("revocation: list key: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, envelope.PublicKey{}, fmt.Errorf("revocation: list key %s: mode %#o lets others read it; chmod 600 it: %w", path, st.Mode().Perm(), fs.ErrPermission)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, envelope.PublicKey{}, fmt.Errorf("revocation: list key: %w", err)
	}
	s, pub, err := envelope.LoadPrivateKey(data, nil)
	if err != nil {
		return nil, envelope.PublicKey{}, fmt.Errorf("revocation: list key %s: %w", path, err)
	}
	return s, pub, nil
}
