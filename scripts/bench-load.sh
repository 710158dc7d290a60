#!/usr/bin/env bash
# bench-load.sh [loadbench flags...]
#
# Measures trustd's GetSubject-by-digest throughput (requests/s) and latency
# (p50/p90/p99) against PostgreSQL with -subjects seeded subjects (default
# 1,000,000) at -concurrency 16 over loopback, next to the ceilings of the
# same machine in the same run: a bare gRPC echo server and pgbench point
# selects. It prints PASS/MISS against the target (trustd at least 40 % of
# the echo rate, p99 under 10 ms). A throwaway PostgreSQL cluster is started
# and removed by with-postgres.sh. See internal/loadbench for the flags, e.g.
#
#   scripts/bench-load.sh -subjects 1000000 -duration 10s
#   scripts/bench-load.sh -output json
#   scripts/bench-load.sh -inprocess -targets trustd -cpuprofile cpu.pprof
#   scripts/bench-load.sh -evidence -targets echo,evidence,trustd,pgbench   # make bench-lookup
set -euo pipefail

cd "$(dirname "$0")/.."
export LOADBENCH_COMMAND="scripts/bench-load.sh${*:+ $*}"
exec scripts/with-postgres.sh go run ./internal/loadbench "$@"
