#!/usr/bin/env bash
# A local PostgreSQL for the run-store tests (issue 19): starts Debian's
# cluster (creating one if there is none), creates the role and database the
# tests use, and prints the URL for MMSAFE_TEST_POSTGRES. Idempotent; root.
set -euo pipefail
# Only the URL goes to stdout: the caller captures it whole, and
# pg_ctlcluster talks there ("Removed stale pid file." on a fresh CI machine
# once made the URL unparseable and failed every PostgreSQL test).
exec 3>&1 1>&2
role=mmsafe
db=mmsafe_test
# A test-only password on a cluster that listens on localhost only.
password=mmsafe-ci-only

ver="$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1}')"
if [ -z "$ver" ]; then
  ver="$(ls /usr/lib/postgresql | sort -V | tail -n1)"
  pg_createcluster "$ver" main >/dev/null 3>&-
fi
name="$(pg_lsclusters -h | awk -v v="$ver" '$1 == v {print $2; exit}')"
port="$(pg_lsclusters -h | awk -v v="$ver" '$1 == v {print $3; exit}')"
if ! pg_lsclusters -h | awk -v v="$ver" '$1 == v {print $4}' | grep -q online; then
  pg_ctlcluster "$ver" "$name" start 3>&-
fi
for _ in $(seq 50); do
  su postgres -c "psql -p $port -qtAc 'SELECT 1'" >/dev/null 2>&1 && break
  sleep 0.2
done
psql_() { su postgres -c "psql -p $port -v ON_ERROR_STOP=1 -qtAc \"$1\""; }
if [ "$(psql_ "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" != 1 ]; then
  psql_ "CREATE ROLE $role LOGIN CREATEDB" >/dev/null
fi
psql_ "ALTER ROLE $role LOGIN CREATEDB PASSWORD '$password'" >/dev/null
if [ "$(psql_ "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
  psql_ "CREATE DATABASE $db OWNER $role" >/dev/null
fi
echo "postgres://$role:$password@127.0.0.1:$port/$db" >&3
