#!/bin/sh
# Regenerates the key transition and Debian repository fixtures in
# pgp/testdata/transition and pgp/testdata/debian (see README.md).
# Usage: sh pgp/testdata/mktransition.sh   (from the repository root; needs
# gpg 2.2+ and apt-ftparchive from apt-utils)
set -eu
out=$(cd "$(dirname "$0")" && pwd)
T="$out/transition"
D="$out/debian"
mkdir -p "$T" "$D"
GNUPGHOME=$(mktemp -d /tmp/pgptr.XXXXXX)
export GNUPGHOME
work=$(mktemp -d /tmp/pgprepo.XXXXXX)
trap 'gpgconf --kill gpg-agent >/dev/null 2>&1 || true; rm -rf "$GNUPGHOME" "$work"' EXIT
revoke() {
	printf 'y\n%s\n%s\n\ny\n' "$2" "$3" | gpg --no-tty --command-fd 0 --status-fd 2 \
		--pinentry-mode loopback --passphrase '' --armor --gen-revoke "$1" 2>/dev/null
}
g() { gpg --batch --yes --no-tty --pinentry-mode loopback --passphrase '' "$@"; }
fpr() { gpg --with-colons --list-keys "$1" | awk -F: '/^fpr/{print $10; exit}'; }
# grouped FPR: gpg's spelling "1234 5678 ... ABCD  EF01 ..." of a fingerprint.
grouped() { echo "$1" | sed -e 's/\(....\)/\1 /g' -e 's/ $//' | awk '{for(i=1;i<=10;i++){printf "%s%s", $i, (i==5?"  ":(i<10?" ":""))}; print ""}'; }

g --quick-gen-key 'Tom Old <tom@old.example.org>' ed25519 cert,sign 0
g --quick-gen-key 'Tom New <tom@new.example.org>' ed25519 cert,sign 0
g --quick-gen-key 'Mallory <mallory@example.org>' ed25519 cert,sign 0
g --quick-gen-key 'Archive Signing Key <archive@example.org>' rsa3072 cert,sign 0
O=$(fpr tom@old.example.org)
N=$(fpr tom@new.example.org)
M=$(fpr mallory@example.org)
A=$(fpr archive@example.org)
g --armor --export "$O" >"$T/old.asc"
g --armor --export "$N" >"$T/new.asc"
g --armor --export "$M" >"$T/mallory.asc"
g --armor --export "$A" >"$D/archive.asc"

# statement OLD NEW: the common transition template naming OLD and NEW.
statement() {
	cat <<EOF
Date: 2026-12-07

For a number of reasons, I have recently set up a new OpenPGP key,
and will be transitioning away from my old one.

The old key will continue to be valid for some time, but I prefer all
future correspondence to come to the new one.  I would also like this
new key to be re-integrated into the web of trust.  This message is
signed by both keys to certify the transition.

The old key was:

pub   ed25519 2026-12-07 [SC]
      Key fingerprint = $(grouped "$1")

And the new key is:

pub   ed25519 2026-12-07 [SC]
      Key fingerprint = $(grouped "$2")

To fetch the full key from a public key server, you can simply do:

  gpg --keyserver keys.openpgp.org --recv-key '$2'

If you already know my old key, you can now verify that the new key is
signed by the old one:

  gpg --check-sigs '$2'
EOF
}
statement "$O" "$N" >"$work/transition.txt"
cp "$work/transition.txt" "$T/transition.txt"
# Both keys in one clearsigned message: two signatures.
g --clearsign --local-user "$O" --local-user "$N" --output "$T/transition.asc" "$work/transition.txt"
# Only the old key signed.
g --clearsign --local-user "$O" --output "$T/old-only.asc" "$work/transition.txt"
# Mallory names Tom's old key and her own as the new one, and signs with hers and Tom's new key.
statement "$O" "$M" >"$work/mallory.txt"
g --clearsign --local-user "$M" --local-user "$N" --output "$T/mallory-claims-old.asc" "$work/mallory.txt"
# The new key signs a release manifest (after the transition).
sleep 1
g --local-user "$N" --detach-sign --output "$T/SHA256SUMS.new.gpg" "$out/SHA256SUMS"
# A second transition from Tom's old key, to Mallory's key, signed by both.
g --clearsign --local-user "$O" --local-user "$M" --output "$T/old-to-mallory.asc" "$work/mallory.txt"
# A revocation certificate of Tom's old key: compromised (gpg menu 1).
revoke "$O" 1 'key was stolen' >"$T/old-revoked.asc"
# The text names Tom's keys, but Mallory's key signs in place of the new key.
g --clearsign --local-user "$O" --local-user "$M" --output "$T/wrong-new-signer.asc" "$work/transition.txt"

# A small Debian repository, its Release made by apt-ftparchive (MD5Sum,
# SHA1, SHA256 and SHA512 sections), signed as InRelease (clearsigned) and
# Release.gpg (detached, armored) by the archive key.
mkdir -p "$work/repo/dists/stable/main/binary-amd64" "$work/repo/dists/stable/main/source"
printf 'Package: hello\nVersion: 2.10-3\nArchitecture: amd64\nFilename: pool/main/h/hello/hello_2.10-3_amd64.deb\nSize: 52744\n\n' \
	>"$work/repo/dists/stable/main/binary-amd64/Packages"
gzip -9n <"$work/repo/dists/stable/main/binary-amd64/Packages" >"$work/repo/dists/stable/main/binary-amd64/Packages.gz"
: >"$work/repo/dists/stable/main/source/Sources"
(cd "$work/repo/dists/stable" && apt-ftparchive \
	-o APT::FTPArchive::Release::Origin=Example \
	-o APT::FTPArchive::Release::Label=Example \
	-o APT::FTPArchive::Release::Suite=stable \
	-o APT::FTPArchive::Release::Codename=example \
	-o APT::FTPArchive::Release::Architectures=amd64 \
	-o APT::FTPArchive::Release::Components=main \
	release . >"$work/Release")
cp "$work/Release" "$D/Release"
g --local-user "$A" --armor --detach-sign --output "$D/Release.gpg" "$work/Release"
g --local-user "$A" --clearsign --output "$D/InRelease" "$work/Release"
