#!/bin/sh
# Regenerates the gpg-made fixtures in this directory (see README.md).
# Usage: sh pgp/testdata/mkfixtures.sh   (from the repository root; needs gpg 2.2+)
set -eu
out=$(cd "$(dirname "$0")" && pwd)
GNUPGHOME=$(mktemp -d /tmp/pgpfix.XXXXXX)
export GNUPGHOME
trap 'gpgconf --kill gpg-agent >/dev/null 2>&1 || true; rm -rf "$GNUPGHOME"' EXIT
g() { gpg --batch --no-tty --pinentry-mode loopback --passphrase '' "$@"; }
fpr() { gpg --with-colons --list-keys "$1" | awk -F: '/^fpr/{print $10; exit}'; }
subfpr() { gpg --with-colons --list-keys "$1" | awk -F: '/^fpr/{n++; if (n=='"$2"'+1) {print $10; exit}}'; }
# revoke FPR MENU TEXT: gpg's menu 0 = no reason, 1 = compromised (code 2),
# 2 = superseded (code 1), 3 = no longer used (code 3).
revoke() {
	printf 'y\n%s\n%s\n\ny\n' "$2" "$3" | gpg --no-tty --command-fd 0 --status-fd 2 \
		--pinentry-mode loopback --passphrase '' --armor --gen-revoke "$1" 2>/dev/null
}

# Ed25519 primary (certify+sign) with an Ed25519 signing subkey and a
# Curve25519 encryption subkey.
g --quick-gen-key 'Alice Example <alice@example.org>' ed25519 cert,sign 0
A=$(fpr alice@example.org)
g --quick-add-key "$A" ed25519 sign 0
g --quick-add-key "$A" cv25519 encr 0
g --armor --export "$A" >"$out/ed25519.asc"
g --armor --export-secret-keys "$A" >"$out/ed25519.sec.asc"

# RSA-3072 primary with an RSA-3072 signing subkey.
g --quick-gen-key 'Bob Example <bob@example.org>' rsa3072 cert,sign 0
B=$(fpr bob@example.org)
g --quick-add-key "$B" rsa3072 sign 0
g --armor --export "$B" >"$out/rsa3072.asc"
g --export "$B" >"$out/rsa3072.gpg"

# A release manifest, signed detached (binary and armored) and clearsigned.
cat >"$out/SHA256SUMS" <<'SUMS'
e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  empty.txt
2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824 *hello.bin
\5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfc3cf9ec7e9f0  dir/with\\backslash
SUMS
g --local-user "$A" --detach-sign --output "$out/SHA256SUMS.ed25519.gpg" "$out/SHA256SUMS"
g --local-user "$B" --detach-sign --output "$out/SHA256SUMS.rsa3072.gpg" "$out/SHA256SUMS"
g --local-user "$A" --armor --detach-sign --output "$out/SHA256SUMS.ed25519.asc" "$out/SHA256SUMS"
g --local-user "$A" --clearsign --output "$out/SHA256SUMS.ed25519.clear" "$out/SHA256SUMS"

# Revocation certificates for Alice with each reason, and the one gpg made
# at key generation (no reason; its armor line is prefixed with a colon).
revoke "$A" 0 'no reason given' >"$out/rev-none.asc"
revoke "$A" 1 'key was stolen' >"$out/rev-compromised.asc"
revoke "$A" 2 'superseded by a new key' >"$out/rev-superseded.asc"
revoke "$A" 3 'no longer used' >"$out/rev-retired.asc"
cp "$GNUPGHOME/openpgp-revocs.d/$A.rev" "$out/rev-generated.rev"

# A key that expired one day after its creation, on 2020-01-01, and a
# signature it made while valid.
g --faked-system-time 20200101T000000 --quick-gen-key 'Old Example <old@example.org>' ed25519 sign 1d
O=$(fpr old@example.org)
g --armor --export "$O" >"$out/expired.asc"
g --faked-system-time 20200101T120000 --local-user "$O" --detach-sign --output "$out/SHA256SUMS.expired.gpg" "$out/SHA256SUMS"

# A key whose self-signatures use SHA-1 only.
g --cert-digest-algo SHA1 --quick-gen-key 'Sha One <sha1@example.org>' rsa3072 sign 0
g --armor --export sha1@example.org >"$out/sha1-selfsig.asc"

# A DSA key (an algorithm trustd does not accept).
g --quick-gen-key 'Dsa Example <dsa@example.org>' dsa2048 sign 0
g --armor --export dsa@example.org >"$out/dsa.asc"

# Alice's certificate re-exported after gpg edits (for Merge): a new user
# id, a new signing subkey, a new expiry, and the superseded revocation
# imported.
g --quick-add-uid "$A" 'Alice Work <alice@work.example>'
g --quick-add-key "$A" ed25519 sign 0
g --quick-set-expire "$A" 5y
g --import "$out/rev-superseded.asc"
g --armor --export "$A" >"$out/ed25519-updated.asc"
