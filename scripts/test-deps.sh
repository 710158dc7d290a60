#!/usr/bin/env bash
# test-deps.sh: makes sure the foreign tools the interop tests drive are
# installed (gpg for OpenPGP, openssl for keys, coreutils' b2sum, in-toto,
# cosign for the cosign import tests, chromium for the web view's browser tests). On a Debian machine where we are root,
# missing ones are installed; elsewhere a missing tool is reported and the
# tests that need it say so.
set -euo pipefail

# cosign, at the version the interop tests were written against, is built
# into bin/ (git-ignored) with the Go toolchain; a version stamp makes a
# version bump rebuild it.
COSIGN_VERSION=v2.6.5
bin="$(cd "$(dirname "$0")/.." && pwd)/bin"
if [ ! -x "$bin/cosign" ] || [ ! -e "$bin/.cosign-$COSIGN_VERSION" ]; then
  echo "test-deps: installing cosign $COSIGN_VERSION into $bin" >&2
  mkdir -p "$bin"
  GOBIN="$bin" go install "github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION"
  touch "$bin/.cosign-$COSIGN_VERSION"
fi

missing=()
command -v gpg >/dev/null 2>&1 || missing+=(gnupg)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v b2sum >/dev/null 2>&1 || missing+=(coreutils)
# GNU time: make bench-get reads trustctl's own peak RSS from it.
[ -x /usr/bin/time ] || missing+=(time)
# unshare and ip: the cosign tests run cosign offline in a network namespace.
command -v unshare >/dev/null 2>&1 || missing+=(util-linux)
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
# apt-ftparchive: the Debian Release files the OpenPGP manifest tests index.
command -v apt-ftparchive >/dev/null 2>&1 || missing+=(apt-utils)
# docker-registry: the distribution registry the OCI verify tests and the
# release image test run.
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
# systemd-analyze: deploy/trustd.service is checked with its verify.
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
# SoftHSM2 and OpenSC's pkcs11-tool: the PKCS#11 (hardware key) signing tests.
command -v softhsm2-util >/dev/null 2>&1 || missing+=(softhsm2)
command -v pkcs11-tool >/dev/null 2>&1 || missing+=(opensc)
# The Python in-toto reference implementation: the differential in-toto tests.
command -v in-toto-verify >/dev/null 2>&1 || missing+=(in-toto)
# Chromium: the web view's browser tests drive it headless (chromedp).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  echo "test-deps: missing ${missing[*]}; the interop tests that need them will not run" >&2
fi
