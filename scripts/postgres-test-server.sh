#!/usr/bin/env bash
# A throw-away PostgreSQL server for the tests (Debian's postgresql package), in a temporary
# directory, on a Unix socket and 127.0.0.1:
#   scripts/postgres-test-server.sh start STATE_DIR [durable]
#                                                    starts it; writes STATE_DIR/url. Tests run
#                                                    without fsync; `durable` keeps PostgreSQL's
#                                                    defaults (for benchmarks)
#   scripts/postgres-test-server.sh stop STATE_DIR    stops it and removes its files
# STATE_DIR/url holds a URL for the superuser over the socket (trust). Over TCP the server
# asks for a password: the role gpu_tune_password (password in STATE_DIR/password) is for the
# tests of passwords. PostgreSQL refuses to run as root, so as root the server runs as the
# unprivileged user `nobody`.
set -euo pipefail

command=${1:?usage: postgres-test-server.sh start|stop STATE_DIR}
state=${2:?usage: postgres-test-server.sh start|stop STATE_DIR}
state=$(realpath -m "$state")
# The server's user may not be allowed into the caller's folder: work from /tmp.
cd /tmp
durability="-c fsync=off"
[[ "${3:-}" == durable ]] && durability=""

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [[ -z "$bindir" || ! -x "$bindir/initdb" ]]; then
  echo "postgres-test-server: no PostgreSQL server found under /usr/lib/postgresql (scripts/install-deps.sh installs it)" >&2
  exit 1
fi

as_server_user=()
if [[ $(id -u) -eq 0 ]]; then
  as_server_user=(runuser -u nobody --)
fi

stop() {
  if [[ -f "$state/data_dir" ]]; then
    local data
    data=$(cat "$state/data_dir")
    if [[ -f "$data/postmaster.pid" ]]; then
      "${as_server_user[@]}" "$bindir/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$(dirname "$data")"
  fi
  rm -rf "$state"
}

if [[ "$command" == stop ]]; then
  stop
  exit 0
fi
[[ "$command" == start ]] || { echo "postgres-test-server: unknown command '$command'" >&2; exit 2; }

stop  # a server a killed run left behind
mkdir -p "$state"
# The socket's path must stay under the kernel's 107 characters: a short folder in /tmp.
root=$(mktemp -d /tmp/gpu_tune_pg.XXXXXX)
chmod 755 "$root"
data="$root/data"
socket="$root/socket"
mkdir -p "$data" "$socket"
echo "$data" >"$state/data_dir"
password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
echo "$password" >"$state/password"
if [[ ${#as_server_user[@]} -gt 0 ]]; then chown -R nobody "$root"; fi

"${as_server_user[@]}" "$bindir/initdb" -D "$data" -U gpu_tune --auth-local=trust --auth-host=scram-sha-256 \
  --no-sync -E UTF8 >"$root/initdb.log" 2>&1 || { cat "$root/initdb.log" >&2; exit 1; }

# A free port: try a few at random.
for attempt in 1 2 3 4 5 6 7 8; do
  port=$((20000 + RANDOM % 40000))
  if "${as_server_user[@]}" "$bindir/pg_ctl" -D "$data" -l "$root/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$socket $durability -c max_connections=200" \
      start >/dev/null 2>&1; then
    break
  fi
  port=""
done
if [[ -z "$port" ]]; then
  echo "postgres-test-server: the server did not start; its log:" >&2
  cat "$root/server.log" >&2
  exit 1
fi

psql_admin=("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$socket" -p "$port" -U gpu_tune -d postgres)
"${psql_admin[@]}" -c "CREATE ROLE gpu_tune_password LOGIN PASSWORD '$password' CREATEDB"
"${psql_admin[@]}" -c "CREATE DATABASE gpu_tune_password OWNER gpu_tune_password"
echo "$port" >"$state/port"
echo "postgresql://gpu_tune@/postgres?host=$socket&port=$port" >"$state/url"
echo "postgres-test-server: PostgreSQL on $socket and 127.0.0.1:$port"
