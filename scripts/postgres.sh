#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the custodian's replica tests.
#
#   scripts/postgres.sh start DIR   installs the server from Debian's packages when it is missing
#                                   (as root), creates a cluster in DIR as an unprivileged user,
#                                   listening on 127.0.0.1 only on a free port, and prints
#                                   `export CLOISTER_TEST_POSTGRES_URL=...` and
#                                   `export CLOISTER_TEST_POSTGRES_RESTART=...` lines to eval
#   scripts/postgres.sh stop DIR    stops it and removes DIR
set -euo pipefail
cmd=${1:-}
dir=${2:-}
if [ -z "$cmd" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi

bin_dir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && { echo "$d"; return 0; }
  done
  return 1
}

# As root the cluster runs as the `postgres` user the package creates (initdb refuses root).
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$cmd" in
  start)
    if ! bin=$(bin_dir); then
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "postgres.sh: installing postgresql from Debian's packages" >&2
        apt-get update -qq >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
        # The package starts its own cluster on 5432; ours is separate, and that one is not needed.
        (service postgresql stop || pg_ctlcluster --help) >/dev/null 2>&1 || true
      else
        echo "postgres.sh: PostgreSQL is not installed and cannot be (not root or no apt-get)" >&2
        exit 2
      fi
      bin=$(bin_dir)
    fi
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then
      chown postgres "$dir"
      # The cluster's user must reach DIR (mktemp makes its parent 0700).
      chmod a+x "$(dirname "$dir")"
    fi
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_owner "$bin/initdb" -D "$dir/data" -U cloister --auth=trust -E UTF8 >/dev/null
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200 -c fsync=on" start >/dev/null
    echo "export CLOISTER_TEST_POSTGRES_URL='postgres://cloister@127.0.0.1:$port/postgres'"
    # An outage of about two seconds: stop, wait, start again on the same port.
    ctl="$bin/pg_ctl -D $dir/data -w -t 60"
    if [ "$(id -u)" = 0 ]; then
      ctl="runuser -u postgres -- $ctl"
    fi
    opts="-c listen_addresses=127.0.0.1 -p $port -k $dir -c max_connections=200"
    echo "export CLOISTER_TEST_POSTGRES_RESTART=\"$ctl -m fast stop >/dev/null && sleep 2 && $ctl -l $dir/postgres.log -o '$opts' start >/dev/null\""
    ;;
  stop)
    if bin=$(bin_dir) && [ -d "$dir/data" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
