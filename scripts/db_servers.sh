#!/usr/bin/env bash
# Local MariaDB and PostgreSQL servers for the database tests (Debian, as root).
#
# Installs Debian's mariadb-server and postgresql (and the MariaDB client library
# mysqlclient builds against) when absent, starts both daemons directly (no
# systemd), waits until they accept connections and opens them to passwordless
# local test access: root@127.0.0.1 on MariaDB, postgres@127.0.0.1 (trust) on
# PostgreSQL. Does nothing that is already done, so it is safe to run every time.
# The test databases themselves are created and dropped by the test harness.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "db_servers.sh: needs root (apt-get, starting the daemons)" >&2
  exit 1
fi

wait_for() { # wait_for WHAT COMMAND...: retry for up to 60 s
  local what=$1
  shift
  for _ in $(seq 120); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "db_servers.sh: $what did not come up" >&2
  return 1
}

# ---------------------------------------------------------------- packages
missing=()
command -v mariadbd-safe >/dev/null 2>&1 || missing+=(mariadb-server)
[ -f /usr/include/mariadb/mysql.h ] || missing+=(libmariadb-dev)
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v pg_ctlcluster >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

# ---------------------------------------------------------------- MariaDB
if ! mariadb-admin --protocol=socket ping >/dev/null 2>&1; then
  echo "== starting MariaDB"
  install -d -o mysql -g mysql /run/mysqld
  # Test data need no durability: skip the flushes that make DDL slow.
  nohup mariadbd-safe --user=mysql --innodb-flush-log-at-trx-commit=0 --sync-binlog=0 \
    >/dev/null 2>&1 &
  wait_for "MariaDB" mariadb-admin --protocol=socket ping
fi
if ! mariadb --protocol=tcp -h 127.0.0.1 -u root -e "SELECT 1" >/dev/null 2>&1; then
  # Debian's root@localhost authenticates by unix socket only; add a TCP test user.
  mariadb --protocol=socket -u root <<'SQL'
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
FLUSH PRIVILEGES;
SQL
  wait_for "MariaDB on 127.0.0.1" mariadb --protocol=tcp -h 127.0.0.1 -u root -e "SELECT 1"
fi

# ---------------------------------------------------------------- PostgreSQL
cluster=$(pg_lsclusters -h | awk 'NR == 1 {print $1 " " $2}')
if [ -z "$cluster" ]; then
  version=$(ls /usr/lib/postgresql | sort -n | tail -1)
  pg_createcluster "$version" main >/dev/null
  cluster="$version main"
fi
read -r pg_version pg_name <<<"$cluster"
hba="/etc/postgresql/$pg_version/$pg_name/pg_hba.conf"
trust="host all postgres 127.0.0.1/32 trust  # homeiq database tests"
if ! grep -qF "$trust" "$hba"; then
  # The first matching line wins: put the test rule first.
  { echo "$trust"; cat "$hba"; } >"$hba.new"
  chown --reference="$hba" "$hba.new"
  chmod --reference="$hba" "$hba.new"
  mv "$hba.new" "$hba"
  pg_ctlcluster "$pg_version" "$pg_name" reload >/dev/null 2>&1 || true
fi
if ! pg_lsclusters -h | awk -v v="$pg_version" -v n="$pg_name" '$1 == v && $2 == n {print $4}' | grep -q online; then
  echo "== starting PostgreSQL $pg_version"
  # Test data need no durability.
  pg_ctlcluster "$pg_version" "$pg_name" start -- -o "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
fi
port=$(pg_lsclusters -h | awk -v v="$pg_version" -v n="$pg_name" '$1 == v && $2 == n {print $3}')
wait_for "PostgreSQL on 127.0.0.1:$port" psql -h 127.0.0.1 -p "$port" -U postgres -w -c "SELECT 1"
echo "== database servers ready: mysql://root@127.0.0.1 postgresql://postgres@127.0.0.1:$port"
