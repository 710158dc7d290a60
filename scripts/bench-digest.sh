#!/usr/bin/env bash
# Benchmarks trustctl's one-pass digesting against coreutils.
#
# Hashes a file of random data with sha256sum, sha512sum and b2sum, and with
# `trustctl digest` for single algorithms, sha256+sha512 together and all
# algorithms; prints MB/s for each and the ratio of sha256+sha512 together to
# sha512 alone (target >= 0.90). Then hashes a large sparse file with all
# algorithms and prints trustctl's peak RSS (target < 32 MiB).
#
# Environment: BENCH_SIZE_MIB (default 1024) size of the random file,
# BENCH_RSS_GIB (default 4) size of the sparse file, BENCH_RUNS (default 3)
# runs per command, best one reported.
set -euo pipefail

size_mib=${BENCH_SIZE_MIB:-1024}
rss_gib=${BENCH_RSS_GIB:-4}
runs=${BENCH_RUNS:-3}

cd "$(dirname "${BASH_SOURCE[0]}")/.."

tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-digest.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

file=$tmp/random.bin
bytes=$((size_mib * 1024 * 1024))
echo "creating ${size_mib} MiB of random data in $file"
head -c "$bytes" /dev/urandom >"$file"
cat "$file" >/dev/null # warm the page cache so every tool reads from memory

now_ns() { date +%s%N; }

# measure NAME CMD...: runs CMD $runs times on the file, prints the best MB/s
# and stores it in the global "last_mbps".
last_mbps=0
measure() {
	local name=$1
	shift
	local best=0 i start end ns
	for ((i = 0; i < runs; i++)); do
		start=$(now_ns)
		if ! "$@" >/dev/null 2>"$tmp/stderr"; then
			echo "FAILED: $*" >&2
			cat "$tmp/stderr" >&2
			exit 1
		fi
		end=$(now_ns)
		ns=$((end - start))
		if ((best == 0 || ns < best)); then
			best=$ns
		fi
	done
	last_mbps=$(awk -v b="$bytes" -v ns="$best" 'BEGIN { printf "%.1f", b / (ns / 1e9) / 1e6 }')
	printf '%-40s %9s MB/s  (%.2f s)\n' "$name" "$last_mbps" "$(awk -v ns="$best" 'BEGIN { print ns / 1e9 }')"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

echo
echo "== coreutils (best of $runs) =="
for tool in sha256sum sha512sum b2sum; do
	if command -v "$tool" >/dev/null; then
		measure "$tool" "$tool" "$file"
	else
		echo "$tool: not installed, skipped"
	fi
done

if [[ ! -d ./cmd/trustctl ]]; then
	echo
	echo "./cmd/trustctl does not exist yet: skipping the trustctl benchmarks"
	exit 0
fi

echo
echo "building trustctl"
go build -o "$tmp/trustctl" ./cmd/trustctl
trustctl=$tmp/trustctl
all=sha256,sha384,sha512,sha3-256,sha3-512,blake2b-256,blake2b-512,blake3

echo
echo "== trustctl digest (best of $runs) =="
for alg in sha256 sha512 blake2b-512 blake3; do
	measure "trustctl digest --algorithm $alg" "$trustctl" digest --algorithm "$alg" "$file"
	if [[ $alg == sha512 ]]; then
		sha512_mbps=$last_mbps
	fi
done
measure "trustctl digest --algorithm sha256,sha512" "$trustctl" digest --algorithm sha256,sha512 "$file"
combined_mbps=$last_mbps
measure "trustctl digest (all algorithms)" "$trustctl" digest --algorithm "$all" "$file"
# shellcheck disable=SC2016 # expanded by the inner sh
measure "trustctl digest sha256,sha512 from stdin" sh -c '"$1" digest --algorithm sha256,sha512 - <"$2"' sh "$trustctl" "$file"

r=$(ratio "$combined_mbps" "$sha512_mbps")
verdict=ok
if awk -v r="$r" 'BEGIN { exit !(r < 0.90) }'; then
	verdict="BELOW TARGET"
fi
echo
echo "sha256+sha512 together / sha512 alone: $r (target >= 0.90: $verdict)"

echo
echo "== peak memory: trustctl digest (all algorithms) of a ${rss_gib} GiB sparse file =="
sparse=$tmp/sparse.bin
truncate -s "${rss_gib}G" "$sparse"

# peak_rss_kib CMD...: runs CMD and prints its peak resident set size in KiB.
peak_rss_kib() {
	if [[ -x /usr/bin/time ]]; then
		/usr/bin/time -v "$@" 2>"$tmp/time" >/dev/null || {
			cat "$tmp/time" >&2
			return 1
		}
		awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$tmp/time"
		return
	fi
	# No GNU time: poll the kernel's high-water mark while the command runs.
	"$@" >/dev/null &
	local pid=$! hwm=0 v
	while kill -0 "$pid" 2>/dev/null; do
		v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
		if [[ -n $v ]]; then
			hwm=$v
		fi
		sleep 0.05
	done
	wait "$pid"
	echo "$hwm"
}

kib=$(peak_rss_kib "$trustctl" digest --algorithm "$all" "$sparse")
mib=$(awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }')
verdict=ok
if awk -v m="$mib" 'BEGIN { exit !(m >= 32) }'; then
	verdict="OVER TARGET"
fi
echo "peak RSS: $mib MiB (target < 32 MiB: $verdict)"
