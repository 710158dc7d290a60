package revocation

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/theupdateframework/go-tuf/v2/metadata"
	"github.com/theupdateframework/go-tuf/v2/metadata/config"
	"github.com/theupdateframework/go-tuf/v2/metadata/updater"
	"golang.org/x/mod/sumdb/note"

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

// LogKeyTarget is the target name of the log key in KeysRepo: the note
// verifier key that signs the statement log's checkpoints (its text is the
// target's bytes).
const LogKeyTarget = "log.vkey"

// NoteKeyType is the KeyCustom.KeyType of a log key: a note verifier key
// (golang.org/x/mod/sumdb/note), not a PEM public key.
const NoteKeyType = "note"

// AcceptedKeyTarget is the target name under which KeysRepo publishes a key
// accepted for the purpose of target name besides the key in use (which is
// published as name itself): a key being rotated in, published before it
// signs so that verifiers learn it first, or a key being rotated out, still
// published so that what it signed verifies until it expires. For
// token.pub and key id 3e63… it is token.3e63….pub.
func AcceptedKeyTarget(name, keyID string) string {
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + keyID + ext
}

// acceptedKeyID reports whether target is an AcceptedKeyTarget of name,
// and the key id it names.
func acceptedKeyID(name, target string) (string, bool) {
	ext := path.Ext(name)
	mid, ok := strings.CutPrefix(target, strings.TrimSuffix(name, ext)+".")
	if !ok {
		return "", false
	}
	mid, ok = strings.CutSuffix(mid, ext)
	if !ok || mid == "" || strings.ContainsAny(mid, "./") {
		return "", false
	}
	return mid, true
}

// inFamily reports whether target publishes a key for the purpose of name:
// name itself or one of its AcceptedKeyTargets.
func inFamily(name, target string) bool {
	_, ok := acceptedKeyID(name, target)
	return ok || target == name
}

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
	// Log, when set, is told which keys stop being published (a key
	// rotation's last step), so an operator sees what no longer verifies.
	Log *slog.Logger

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
//
// Each PublishedKey is a purpose's whole key set: targets of that purpose
// it does not hold are removed (the last step of a rotation), in the same
// targets version that adds the new ones, so a client never sees a purpose
// without its key in use.
func (p *KeyPublisher) Start(ctx context.Context, keys ...*PublishedKey) error {
	// One targets version carries them all.
	if err := p.publish(ctx, keys); err != nil {
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
// the key in the target's custom field) as the only key of that purpose,
// unless the current targets already list exactly that key and are not due
// for renewal. When another replica publishes at the same moment, it
// re-reads the targets and tries again (a few times), so the race never
// reaches a caller.
func (p *KeyPublisher) PublishKey(ctx context.Context, name string, pub envelope.PublicKey) error {
	return p.publish(ctx, []*PublishedKey{p.Key(name, pub)})
}

// keyTarget is one public key and its target name in KeysRepo.
type keyTarget struct {
	name   string
	custom KeyCustom
}

// publish publishes several purposes' key sets at once: one targets
// version carries every key that is missing or changed and drops every
// key of those purposes that is no longer in their sets.
func (p *KeyPublisher) publish(ctx context.Context, keys []*PublishedKey) error {
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
// uploads the next version if a key is missing, changed or no longer in
// its purpose's set, or the targets are due for renewal.
func (p *KeyPublisher) publishOnce(ctx context.Context, keys []*PublishedKey) error {
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
	var retired []removedKey
	changed := false
	for _, k := range keys {
		want, ids := map[string]bool{}, map[string]bool{}
		for _, kt := range k.targets {
			want[kt.name], ids[kt.custom.KeyID] = true, true
			data := []byte(kt.custom.PublicKey)
			if tf, ok := have[kt.name]; ok && tf.VerifyLengthHashes(data) == nil {
				continue
			}
			n, ds, err := tuf.HashTarget(ctx, bytes.NewReader(data))
			if err != nil {
				return fmt.Errorf("revocation: publish key %s: %w", kt.name, err)
			}
			custom, err := json.Marshal(kt.custom)
			if err != nil {
				return fmt.Errorf("revocation: publish key %s: %w", kt.name, err)
			}
			tf, err := tuf.NewTargetFile(n, ds, custom)
			if err != nil {
				return fmt.Errorf("revocation: publish key %s: %w", kt.name, err)
			}
			tf.Path = kt.name
			md.Signed.Targets[kt.name] = tf
			names = append(names, kt.name)
		}
		for name, tf := range have {
			if want[name] || !inFamily(k.name, name) {
				continue
			}
			delete(md.Signed.Targets, name)
			r := removedKey{name, tf}
			if !ids[r.keyID()] {
				// Gone from the set, not moved to another of its targets.
				retired = append(retired, r)
			}
			changed = true
		}
	}
	if len(names) == 0 && !changed && !renew {
		return nil
	}
	for _, r := range retired {
		names = append(names, "-"+r.name)
	}
	signed, err := tuf.Sign(md, p.targets)
	if err != nil {
		return fmt.Errorf("revocation: publish keys %s: %w", strings.Join(names, ", "), err)
	}
	if _, err := p.svc.Upload(ctx, KeysRepo, metadata.TARGETS, signed); err != nil {
		return fmt.Errorf("revocation: publish keys %s in %s: %w", strings.Join(names, ", "), KeysRepo, err)
	}
	if p.Log != nil {
		for _, r := range retired {
			p.Log.Warn("a key is no longer published in "+KeysRepo+": what it signed stops verifying for clients that sync", "target", r.name, "key", r.keyID())
		}
	}
	return nil
}

// removedKey is a target publishOnce dropped.
type removedKey struct {
	name string
	tf   *metadata.TargetFiles
}

// keyID is the key id in the removed target's custom field, if any.
func (r removedKey) keyID() string {
	var kc KeyCustom
	if r.tf.Custom != nil && json.Unmarshal(*r.tf.Custom, &kc) == nil {
		return kc.KeyID
	}
	return ""
}

// FetchKey is the client side of KeysRepo: go-tuf's updater refreshes the
// repository at repoURL (http://HOST/tuf/trustd/keys) into metadataDir,
// trusting the root stored there from an earlier fetch or else the pinned
// root, and returns the public key of target name (the key in use for
// that purpose), checked against the target's length and hashes.
func FetchKey(repoURL string, pinnedRoot []byte, metadataDir, name string) (envelope.PublicKey, error) {
	keys, err := readKeys(repoURL, pinnedRoot, metadataDir, name, false)
	if err != nil {
		return envelope.PublicKey{}, err
	}
	return keys[0], nil
}

// FetchKeys is FetchKey returning every key KeysRepo publishes for the
// purpose of target name: the key in use first, then the keys accepted
// besides it during a rotation (AcceptedKeyTarget). A verifier accepts a
// signature by any of them.
func FetchKeys(repoURL string, pinnedRoot []byte, metadataDir, name string) ([]envelope.PublicKey, error) {
	return readKeys(repoURL, pinnedRoot, metadataDir, name, false)
}

// CachedKey is FetchKey with no network: go-tuf's local mode verifies the
// metadata an earlier FetchKey stored in metadataDir (signatures,
// thresholds, versions and expiry, from the stored or else the pinned
// root) and returns the public key of target name. Expired metadata fails
// with metadata.ErrExpiredMetadata in the chain; fetch again to renew it.
func CachedKey(pinnedRoot []byte, metadataDir, name string) (envelope.PublicKey, error) {
	keys, err := CachedKeys(pinnedRoot, metadataDir, name)
	if err != nil {
		return envelope.PublicKey{}, err
	}
	return keys[0], nil
}

// CachedKeys is FetchKeys with no network, as CachedKey is FetchKey.
func CachedKeys(pinnedRoot []byte, metadataDir, name string) ([]envelope.PublicKey, error) {
	return readKeys(localURL(metadataDir), pinnedRoot, metadataDir, name, true)
}

// FetchLogKeys returns the note verifier keys KeysRepo publishes for the
// statement log (LogKeyTarget): the key that signs checkpoints first, then
// the keys still accepted during a rotation. It refreshes the repository
// as FetchKey does.
func FetchLogKeys(repoURL string, pinnedRoot []byte, metadataDir string) ([]string, error) {
	return readLogKeys(repoURL, pinnedRoot, metadataDir, false)
}

// CachedLogKeys is FetchLogKeys with no network.
func CachedLogKeys(pinnedRoot []byte, metadataDir string) ([]string, error) {
	return readLogKeys(localURL(metadataDir), pinnedRoot, metadataDir, true)
}

// localURL is the remote URL go-tuf wants even in local mode, which never
// uses it.
func localURL(metadataDir string) string { return "file://" + filepath.ToSlash(metadataDir) }

// readKeys reads the PEM keys of name's purpose (FetchKeys, or CachedKeys
// when local).
func readKeys(repoURL string, pinnedRoot []byte, metadataDir, name string, local bool) ([]envelope.PublicKey, error) {
	kcs, err := readKeyTargets(repoURL, pinnedRoot, metadataDir, name, local)
	if err != nil {
		return nil, err
	}
	out := make([]envelope.PublicKey, 0, len(kcs))
	for _, kc := range kcs {
		pub, err := envelope.ParsePublicKey([]byte(kc.PublicKey))
		if err != nil {
			return nil, fmt.Errorf("revocation: tuf target %s: %w", kc.target, err)
		}
		if pub.ID != kc.KeyID {
			return nil, fmt.Errorf("revocation: tuf target %s: %w: custom keyid %s, but the key's id is %s", kc.target, ErrBadList, kc.KeyID, pub.ID)
		}
		out = append(out, pub)
	}
	return out, nil
}

// readLogKeys reads the log's note verifier keys (FetchLogKeys, or
// CachedLogKeys when local).
func readLogKeys(repoURL string, pinnedRoot []byte, metadataDir string, local bool) ([]string, error) {
	kcs, err := readKeyTargets(repoURL, pinnedRoot, metadataDir, LogKeyTarget, local)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(kcs))
	for _, kc := range kcs {
		if kc.KeyType != NoteKeyType || kc.KeyID != NoteKeyID(kc.PublicKey) {
			return nil, fmt.Errorf("revocation: tuf target %s: %w: keytype %q, keyid %s: not the note verifier key it holds", kc.target, ErrBadList, kc.KeyType, kc.KeyID)
		}
		if _, err := note.NewVerifier(kc.PublicKey); err != nil {
			return nil, fmt.Errorf("revocation: tuf target %s: %w: %w", kc.target, ErrBadList, err)
		}
		out = append(out, kc.PublicKey)
	}
	return out, nil
}

// NoteKeyID is the KeyCustom.KeyID of a log key: the hex SHA-256 of the
// note verifier key's text.
func NoteKeyID(vkey string) string {
	sum := sha256.Sum256([]byte(vkey))
	return hex.EncodeToString(sum[:])
}

// readKeyTarget is a key target read through TUF: its custom field, whose
// key is the target's bytes, and its name.
type readKeyTarget struct {
	KeyCustom
	target string
}

// readKeyTargets refreshes KeysRepo with go-tuf's updater (online, or
// from the cache when local) and returns the key targets of name's
// purpose, each checked against its length and hashes: name first, then
// its AcceptedKeyTargets by name.
func readKeyTargets(repoURL string, pinnedRoot []byte, metadataDir, name string, local bool) ([]readKeyTarget, error) {
	if err := os.MkdirAll(metadataDir, 0o700); err != nil {
		return nil, fmt.Errorf("revocation: tuf: %w", err)
	}
	root := pinnedRoot
	if stored, err := os.ReadFile(filepath.Join(metadataDir, "root.json")); err == nil {
		root = stored
	}
	if len(root) == 0 {
		return nil, fmt.Errorf("revocation: tuf: no trusted root: pin the root of %s (%s/1.root.json, checked out of band)", KeysRepo, repoURL)
	}
	cfg, err := config.New(repoURL, root)
	if err != nil {
		return nil, fmt.Errorf("revocation: tuf: %w", err)
	}
	cfg.LocalMetadataDir = metadataDir
	cfg.LocalTargetsDir = filepath.Join(metadataDir, "targets")
	cfg.UnsafeLocalMode = local
	// Local mode reads the cache and learns nothing new: writing the root
	// back (as updater.New does) would cost a file write per verification.
	cfg.DisableLocalCache = local
	up, err := updater.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("revocation: tuf: %w", err)
	}
	if err := up.Refresh(); local && errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("revocation: tuf: no cached metadata of %s in %s: fetch it once online (trustctl token key --root, or trustctl revocations sync): %w", KeysRepo, metadataDir, err)
	} else if err != nil {
		return nil, fmt.Errorf("revocation: tuf refresh of %s: %w", KeysRepo, err)
	}
	ti, err := up.GetTargetInfo(name)
	if err != nil {
		return nil, fmt.Errorf("revocation: tuf target %s: %w", name, err)
	}
	kc, err := keyTargetOf(name, ti)
	if err != nil {
		return nil, err
	}
	out := []readKeyTarget{kc}
	targets := up.GetTopLevelTargets()
	for _, target := range slices.Sorted(maps.Keys(targets)) {
		id, ok := acceptedKeyID(name, target)
		if !ok {
			continue
		}
		kc, err := keyTargetOf(target, targets[target])
		if err != nil {
			return nil, err
		}
		if kc.KeyID != id {
			return nil, fmt.Errorf("revocation: tuf target %s: %w: its key id is %s", target, ErrBadList, kc.KeyID)
		}
		out = append(out, kc)
	}
	return out, nil
}

// keyTargetOf decodes a key target's custom field and checks the key in it
// against the target's length and hashes.
func keyTargetOf(target string, ti *metadata.TargetFiles) (readKeyTarget, error) {
	if ti.Custom == nil {
		return readKeyTarget{}, fmt.Errorf("revocation: tuf target %s: %w: no custom field with the key", target, ErrBadList)
	}
	var kc KeyCustom
	if err := json.Unmarshal(*ti.Custom, &kc); err != nil {
		return readKeyTarget{}, fmt.Errorf("revocation: tuf target %s: custom: %w: %w", target, ErrBadList, err)
	}
	if err := ti.VerifyLengthHashes([]byte(kc.PublicKey)); err != nil {
		return readKeyTarget{}, fmt.Errorf("revocation: tuf target %s: %w: %w", target, ErrBadList, err)
	}
	return readKeyTarget{KeyCustom: kc, target: target}, nil
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
