#!/usr/bin/env bash
# Benchmarks deploy-time verification (issue 9's performance targets).
#
#   1. `trustctl verify --offline` on a 1 KiB file with a token: whole-process
#      wall time (median of BENCH_RUNS_SMALL runs).
#   2. The same on a BENCH_SIZE_MIB (default 1024) MiB file, against
#      `openssl dgst -sha256` alone on the same file (best of BENCH_RUNS,
#      default 5, interleaved);
#      target ratio <= 1.15.
#   3. With BENCH_COSIGN=1: `cosign verify-blob --key` on the same files
#      (cosign v2.6.5, go-installed into bin/ for the benchmark only, run
#      under `unshare -n` so its trust-root lookup fails at once), and the
#      ratios against it.
#   4. Token verification per second in process (go test -bench ./token).
#
# A throwaway trustd (SQLite, loopback) signs both files as TUF targets and
# issues their tokens; it is stopped before anything is timed, so the
# offline verifications run with no server.
set -euo pipefail

size_mib=${BENCH_SIZE_MIB:-1024}
runs=${BENCH_RUNS:-5}
runs_small=${BENCH_RUNS_SMALL:-21}

cd "$(dirname "${BASH_SOURCE[0]}")/.."
tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-verify.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

go build -o "$tmp/trustd" ./cmd/trustd
go build -o "$tmp/trustctl" ./cmd/trustctl
tctl() { "$tmp/trustctl" --server "$addr" "$@"; }

# trustd issues tokens only for the policies it holds: the file the
# verifications below enforce.
cat >"$tmp/policy.yaml" <<'YAML'
apiVersion: trustd.dev/policy/v1
policies:
  - name: deploy
    require:
      any:
        - token: {maxAge: 24h}
        - tuf: {repo: bench/files, pattern: "*"}
YAML
"$tmp/trustd" --data-dir "$tmp/data" --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 --token-policy "$tmp/policy.yaml" 2>"$tmp/trustd.log" &
pid=$!
for _ in $(seq 100); do
	addr=$(sed -n 's/.*grpc=\([^ ]*\).*/\1/p' "$tmp/trustd.log" | head -1)
	[ -n "$addr" ] && break
	sleep 0.1
done
[ -n "$addr" ] || { cat "$tmp/trustd.log"; exit 1; }

small=$tmp/small.bin
big=$tmp/big.bin
head -c 1024 /dev/urandom >"$small"
echo "creating ${size_mib} MiB of random data"
head -c $((size_mib * 1024 * 1024)) /dev/urandom >"$big"

tctl key generate --out "$tmp/root.pem" >/dev/null
tctl key generate --out "$tmp/targets.pem" >/dev/null
tctl tuf init bench/files --root-key "$tmp/root.pem" --root-threshold 1 --targets-key "$tmp/targets.pem.pub" --targets-threshold 1 >/dev/null
for f in "$small" "$big"; do
	tctl sign "$f" --repo bench/files --name "$(basename "$f")" --key "$tmp/targets.pem" >/dev/null
	tctl token issue "$f" --policy deploy --attach >/dev/null
done
tctl token key --out "$tmp/token.pub" 2>/dev/null
# The pinned-root path: the token key through trustd/keys (go-tuf's local
# metadata cache) and the synced revocation list, as a pipeline runs it.
http=$(sed -n 's/.*http=\([^ ]*\).*/\1/p' "$tmp/trustd.log" | head -1)
curl -sf -o "$tmp/keys-root.json" "http://$http/tuf/trustd/keys/1.root.json"
tctl revocations sync --root "$tmp/keys-root.json" --tuf-url "http://$http/tuf/trustd/keys" --cache "$tmp/cache" >/dev/null
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=

verify() { "$tmp/trustctl" verify "$1" --offline --policy "$tmp/policy.yaml" --token-key "$tmp/token.pub" >/dev/null; }
verify_root() { "$tmp/trustctl" verify "$1" --offline --policy "$tmp/policy.yaml" --trust-root "$tmp/keys-root.json" --cache "$tmp/cache" >/dev/null; }
now_ns() { date +%s%N; }
# best CMD...: the fastest of $runs runs, in ns.
best() {
	local b=0 s t i
	for ((i = 0; i < runs; i++)); do
		s=$(now_ns)
		"$@"
		t=$(($(now_ns) - s))
		if [ "$b" = 0 ] || [ "$t" -lt "$b" ]; then b=$t; fi
	done
	echo "$b"
}

# 1. 1 KiB, whole process; `trustctl version` alone, timed alike, is the
# floor of any trustctl run (process start and package initialisation) on
# this machine at this moment.
times=()
floor=()
rooted=()
for ((i = 0; i < runs_small; i++)); do
	s=$(now_ns)
	verify "$small"
	times+=($(($(now_ns) - s)))
	s=$(now_ns)
	verify_root "$small"
	rooted+=($(($(now_ns) - s)))
	s=$(now_ns)
	"$tmp/trustctl" version >/dev/null
	floor+=($(($(now_ns) - s)))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median_small=$(sed -n "$((runs_small / 2 + 1))p" <<<"$sorted")
min_small=$(head -1 <<<"$sorted")
median_floor=$(printf '%s\n' "${floor[@]}" | sort -n | sed -n "$((runs_small / 2 + 1))p")
printf 'trustctl version (process floor): median %.1f ms\n' "$(echo "$median_floor / 1000000" | bc -l)"
printf 'trustctl verify --offline, 1 KiB + token: median %.1f ms, best %.1f ms over %d runs (target <= 11 ms, a quarter of cosign verify-blob)\n' \
	"$(echo "$median_small / 1000000" | bc -l)" "$(echo "$min_small / 1000000" | bc -l)" "$runs_small"
median_rooted=$(printf '%s\n' "${rooted[@]}" | sort -n | sed -n "$((runs_small / 2 + 1))p")
printf 'trustctl verify --offline --trust-root (key via TUF cache, revocation list checked), 1 KiB + token: median %.1f ms\n' \
	"$(echo "$median_rooted / 1000000" | bc -l)"

# 2. Large file against openssl, runs interleaved so that load from other
# processes falls on both alike; the best run of each counts.
cat "$big" >/dev/null
sha() { openssl dgst -sha256 -r "$1" >/dev/null; }
t_verify=0
t_openssl=0
for ((i = 0; i < runs; i++)); do
	s=$(now_ns)
	verify "$big"
	t=$(($(now_ns) - s))
	if [ "$t_verify" = 0 ] || [ "$t" -lt "$t_verify" ]; then t_verify=$t; fi
	s=$(now_ns)
	sha "$big"
	t=$(($(now_ns) - s))
	if [ "$t_openssl" = 0 ] || [ "$t" -lt "$t_openssl" ]; then t_openssl=$t; fi
done
printf 'trustctl verify --offline, %d MiB: %.3f s\n' "$size_mib" "$(echo "$t_verify / 1000000000" | bc -l)"
printf 'openssl dgst -sha256,       %d MiB: %.3f s\n' "$size_mib" "$(echo "$t_openssl / 1000000000" | bc -l)"
printf 'ratio verify/openssl: %.3f (target <= 1.15)\n' "$(echo "$t_verify / $t_openssl" | bc -l)"

# 3. cosign, when asked for.
if [ "${BENCH_COSIGN:-0}" = 1 ]; then
	cosign=$PWD/bin/cosign
	[ -x "$cosign" ] || GOBIN=$PWD/bin go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5
	export COSIGN_PASSWORD=
	(cd "$tmp" && unshare -n "$cosign" generate-key-pair >/dev/null 2>&1)
	for f in "$small" "$big"; do
		unshare -n "$cosign" sign-blob --yes --key "$tmp/cosign.key" --tlog-upload=false --output-signature "$f.sig" "$f" >/dev/null 2>&1
	done
	cosign_verify() { unshare -n "$cosign" verify-blob --key "$tmp/cosign.pub" --signature "$1.sig" --insecure-ignore-tlog=true "$1" >/dev/null 2>&1; }
	cosign_verify "$small" || { echo "cosign verify-blob failed on the 1 KiB file" >&2; exit 1; }
	times=()
	for ((i = 0; i < runs_small; i++)); do
		s=$(now_ns)
		cosign_verify "$small"
		times+=($(($(now_ns) - s)))
	done
	median_cosign=$(printf '%s\n' "${times[@]}" | sort -n | sed -n "$((runs_small / 2 + 1))p")
	t_cosign=$(best cosign_verify "$big")
	printf 'cosign verify-blob --key, 1 KiB: median %.1f ms; trustctl/cosign %.3f (target <= 0.25)\n' \
		"$(echo "$median_cosign / 1000000" | bc -l)" "$(echo "$median_small / $median_cosign" | bc -l)"
	printf 'cosign verify-blob --key, %d MiB: %.3f s; trustctl/cosign %.3f (target < 1)\n' \
		"$size_mib" "$(echo "$t_cosign / 1000000000" | bc -l)" "$(echo "$t_verify / $t_cosign" | bc -l)"
fi

# 4. Token verification in process.
go test -run '^$' -bench . -benchtime 2s ./token | grep -E '^Benchmark'
