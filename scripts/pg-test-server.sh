#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests: a fresh cluster in a temporary folder, listening on
# 127.0.0.1 only, trust authentication, fsync and synchronous_commit on (what production runs).
#
#   scripts/pg-test-server.sh start   starts it (or finds it running) and prints its URL on stdout,
#                                     e.g. postgres://postgres@127.0.0.1:25432/postgres
#   scripts/pg-test-server.sh stop    stops it and deletes its folder
#   scripts/pg-test-server.sh url     prints the URL of the running server
#   scripts/pg-test-server.sh bin     prints the folder of the PostgreSQL programs (fails if none)
#
# Then: TOKENPAIR_TEST_DATABASE_URL=$(scripts/pg-test-server.sh start) npm test
#
# Environment: TOKENPAIR_PG_DIR (the cluster's folder, default /tmp/tokenpair-pg-test),
# TOKENPAIR_PG_PORT (the first port tried, default 25432: below Linux's ephemeral range, where an
# outgoing connection's local port can take a port that looked free), PG_BIN (the folder of initdb
# and pg_ctl).
# The programs come from Debian's packages (/usr/lib/postgresql/<version>/bin, `apt-get install
# postgresql`) or from PATH. initdb refuses to run as root, so as root the server runs as the
# `postgres` user that Debian's package creates.
set -euo pipefail

DIR=${TOKENPAIR_PG_DIR:-/tmp/tokenpair-pg-test}
FIRST_PORT=${TOKENPAIR_PG_PORT:-25432}
DATA="$DIR/data"

say() { echo "pg-test-server: $*" >&2; }

find_bin() {
  if [[ -n "${PG_BIN:-}" ]]; then
    [[ -x "$PG_BIN/initdb" && -x "$PG_BIN/pg_ctl" ]] && { echo "$PG_BIN"; return 0; }
    say "PG_BIN=$PG_BIN has no initdb and pg_ctl"
    return 1
  fi
  local dir
  # The newest Debian version first.
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]] && { echo "$dir"; return 0; }
  done
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v pg_ctl)"
    return 0
  fi
  return 1
}

# Runs a command as the owner of the cluster: the `postgres` user when we are root.
as_owner() {
  if [[ $(id -u) -ne 0 ]]; then
    "$@"
  elif command -v runuser >/dev/null; then
    runuser -u postgres -- "$@"
  else
    su postgres -s /bin/bash -c "$(printf '%q ' "$@")"
  fi
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The first port from $1 on that nothing listens on (at most 100 further).
free_port() {
  local port=$1
  while port_in_use "$port"; do
    port=$((port + 1))
    if ((port > $1 + 100)); then
      say "no free port in $1..$(($1 + 100))"
      exit 1
    fi
  done
  echo "$port"
}

running() {
  [[ -f "$DATA/PG_VERSION" ]] && as_owner "$BIN/pg_ctl" status -D "$DATA" >/dev/null 2>&1
}

start() {
  if running && [[ -f "$DIR/url" ]]; then
    cat "$DIR/url"
    return 0
  fi
  if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    say "running as root, and there is no 'postgres' user to run the server as (initdb refuses root)"
    exit 1
  fi
  # Whatever was left by an earlier run that did not stop cleanly.
  [[ -f "$DATA/postmaster.pid" ]] && as_owner "$BIN/pg_ctl" stop -D "$DATA" -m immediate >/dev/null 2>&1 || true
  rm -rf "$DIR"
  mkdir -p "$DIR"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$DIR"
  chmod 700 "$DIR"

  local port
  port=$(free_port "$FIRST_PORT")

  # --no-sync: nothing in a new cluster is worth an fsync; the server itself runs with fsync on.
  as_owner "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --no-locale --no-sync >"$DIR/initdb.log" 2>&1 || {
    cat "$DIR/initdb.log" >&2
    say "initdb failed"
    exit 1
  }
  cat >>"$DATA/postgresql.conf" <<EOF

# scripts/pg-test-server.sh
listen_addresses = '127.0.0.1'
unix_socket_directories = '$DIR'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 300
EOF
  # Only 127.0.0.1, and no password (a throw-away server nobody else can reach).
  cat >"$DATA/pg_hba.conf" <<EOF
local all all trust
host  all all 127.0.0.1/32 trust
EOF
  # The port is given at start (not in postgresql.conf) so that a port taken between the check and
  # the bind is simply retried with the next free one.
  local attempt started=""
  for attempt in 1 2 3 4 5; do
    if as_owner "$BIN/pg_ctl" start -D "$DATA" -l "$DIR/postgres.log" -w -t 60 -o "-p $port" >/dev/null; then
      started=1
      break
    fi
    grep -q "Address already in use" "$DIR/postgres.log" 2>/dev/null || break
    say "port $port was taken meanwhile (attempt $attempt); trying the next free one"
    port=$(free_port $((port + 1)))
  done
  if [[ -z $started ]]; then
    tail -n 30 "$DIR/postgres.log" >&2 || true
    say "the server did not start"
    exit 1
  fi
  local url="postgres://postgres@127.0.0.1:$port/postgres"
  echo "$url" >"$DIR/url"
  say "PostgreSQL $("$BIN/pg_ctl" --version | awk '{print $3}') running on 127.0.0.1:$port (data in $DATA); stop it with: $0 stop"
  echo "$url"
}

stop() {
  if [[ -f "$DATA/PG_VERSION" ]]; then
    as_owner "$BIN/pg_ctl" stop -D "$DATA" -m fast -w >/dev/null 2>&1 || as_owner "$BIN/pg_ctl" stop -D "$DATA" -m immediate >/dev/null 2>&1 || true
  fi
  rm -rf "$DIR"
}

command=${1:-}
case "$command" in
  bin)
    find_bin
    ;;
  start | stop | url)
    BIN=$(find_bin) || {
      say "no PostgreSQL programs found (looked in PG_BIN, /usr/lib/postgresql/*/bin and PATH): apt-get install postgresql"
      exit 1
    }
    case "$command" in
      start) start ;;
      stop) stop ;;
      url)
        running && [[ -f "$DIR/url" ]] || { say "not running"; exit 1; }
        cat "$DIR/url"
        ;;
    esac
    ;;
  *)
    echo "usage: $0 start | stop | url | bin" >&2
    exit 2
    ;;
esac
