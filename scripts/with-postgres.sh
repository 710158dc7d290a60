#!/usr/bin/env bash
# with-postgres.sh CMD [ARGS...]
#
# Runs CMD with TRUSTD_TEST_POSTGRES_URL pointing at a throwaway PostgreSQL
# cluster on a free loopback port, and stops and deletes the cluster when CMD
# ends, whatever its outcome. A URL already in TRUSTD_TEST_POSTGRES_URL is
# used as is. PostgreSQL binaries are looked up on PATH, then in
# /usr/lib/postgresql/*/bin; on a Debian machine where we are root and none
# exist, the postgresql package is installed.
set -euo pipefail

if [ -n "${TRUSTD_TEST_POSTGRES_URL:-}" ]; then
  exec "$@"
fi

log() { printf 'with-postgres: %s\n' "$*" >&2; }

find_pg_bin() {
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
    return 0
  fi
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      echo "$d"
      return 0
    fi
  done
  return 1
}

pg_bin=$(find_pg_bin || true)
if [ -z "$pg_bin" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "no PostgreSQL binaries found; installing the postgresql package"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    # The package starts a cluster of its own; the tests do not use it.
    pg_bin=$(find_pg_bin) || { log "postgresql installed but initdb/pg_ctl not found"; exit 2; }
  else
    log "PostgreSQL binaries (initdb, pg_ctl) not found: install PostgreSQL or set TRUSTD_TEST_POSTGRES_URL"
    exit 2
  fi
fi

# initdb refuses to run as root: run the cluster as the postgres user then.
run_pg=()
if [ "$(id -u)" = 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  fi
  run_pg=(runuser -u postgres --)
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/trustd-pg.XXXXXX")
chmod 0755 "$tmp"
[ "$(id -u)" = 0 ] && chown postgres "$tmp"

cleanup() {
  local rc=$?
  if [ -f "$tmp/data/postmaster.pid" ]; then
    "${run_pg[@]}" "$pg_bin/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
port=""
for _ in $(seq 1 50); do
  p=$((20000 + RANDOM % 40000))
  if port_free "$p"; then port=$p; break; fi
done
[ -n "$port" ] || { log "no free port found"; exit 2; }

# Durability: the test cluster turns fsync, synchronous_commit and
# full_page_writes off (nothing it holds must survive a crash), unless
# TRUSTD_PG_DURABLE=1 asks for PostgreSQL's defaults, all on, so write
# benchmarks can report what a production cluster does.
durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
if [ "${TRUSTD_PG_DURABLE:-0}" = 1 ]; then
  durability="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
fi
# pg_stat_statements, when the server has it, lets benchmarks count the
# statements each write costs. Planning is not tracked: tracking it cost
# about a tenth of the write benchmarks' throughput here (set
# TRUSTD_PG_TRACK_PLANNING=1 to see it).
preload=""
if [ -f "$("$pg_bin/pg_config" --pkglibdir 2>/dev/null || echo /nonexistent)/pg_stat_statements.so" ]; then
  preload="-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
  if [ "${TRUSTD_PG_TRACK_PLANNING:-}" = 1 ]; then
    preload="$preload -c pg_stat_statements.track_planning=on"
  fi
fi

"${run_pg[@]}" "$pg_bin/initdb" -D "$tmp/data" -U postgres -A trust -E UTF8 --no-sync >"$tmp/initdb.log" 2>&1 ||
  { cat "$tmp/initdb.log" >&2; exit 2; }
"${run_pg[@]}" "$pg_bin/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w -t 60 start \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $tmp $durability -c max_connections=300 $preload" >/dev/null ||
  { cat "$tmp/server.log" >&2; exit 2; }
log "PostgreSQL $("$pg_bin/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port (removed on exit)${TRUSTD_PG_DURABLE:+, durable=$TRUSTD_PG_DURABLE}"

export TRUSTD_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
export TRUSTD_TEST_PG_BIN="$pg_bin"
"$@"
