#!/usr/bin/env bash
# Makes an upgrade fixture: the databases an earlier release leaves behind
# after a fixed scenario, on SQLite (NAME.sqlite) and PostgreSQL (NAME.pg.sql,
# a plain pg_dump of one schema). The upgrade tests migrate each to the
# current schema and check the data and verify.
#
#   store/testdata/upgrade/make.sh COMMIT NAME
#
# COMMIT is a release whose newest migration NAME names (e.g. 0007_batches).
# Needs go, curl, pg_dump and a PostgreSQL at $PG (default: the test one).
set -euo pipefail
commit=$1 name=$2
here=$(cd "$(dirname "$0")" && pwd)
PG=${PG:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
work=$(mktemp -d)
trap 'git -C "$here" worktree remove --force "$work/src" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$here" worktree add -q --detach "$work/src" "$commit"
(cd "$work/src" && go build -o "$work/tollgate" ./cmd/tollgate)

# scenario URL KEY: an account, a promotion, a hold captured in part, a hold
# left pending for a week.
scenario() {
  local u=$1 k=$2
  call() { curl -fsS -H "Authorization: Bearer $k" -H 'Content-Type: application/json' "$@"; }
  call -X POST "$u/v1/accounts" -d '{"id":"acme","name":"Acme"}' >/dev/null
  call -X POST "$u/v1/accounts/acme/grants" -d '{"credits":"100","source":"promo"}' >/dev/null
  hold=$(call -X POST "$u/v1/holds" -d '{"account_id":"acme","product":"video","credits":"12.5"}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
  call -X POST "$u/v1/holds/$hold/capture" -d '{"credits":"10"}' >/dev/null
  call -X POST "$u/v1/holds" -d '{"account_id":"acme","product":"video","credits":"3","ttl_seconds":604800}' >/dev/null
}

# serve_run ENV...: runs the scenario on a serve started with ENV, then stops it.
serve_run() {
  env "$@" TOLLGATE_ADDR=127.0.0.1:0 "$work/tollgate" serve >"$work/out" 2>"$work/err" &
  local pid=$!
  for _ in $(seq 1 100); do grep -q 'listening on' "$work/out" 2>/dev/null && break; sleep 0.1; done
  local url key
  url=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$work/out" | head -1)
  key=$(sed -n 's/.*Admin key (shown once, stored hashed): \(tg_[a-z0-9]*\).*/\1/p' "$work/out" | head -1)
  [ -n "$url" ] && [ -n "$key" ] || { cat "$work/out" "$work/err"; kill $pid; exit 1; }
  scenario "$url" "$key"
  kill -TERM $pid && wait $pid
}

mkdir -p "$work/data"
serve_run TOLLGATE_DATA_DIR="$work/data"
cp "$work/data/tollgate.db" "$here/$name.sqlite"

schema="upgrade_fixture_$$"
psql -q "$PG" -c "CREATE SCHEMA $schema"
sep='?'; case $PG in *\?*) sep='&';; esac
serve_run TOLLGATE_DATABASE_URL="$PG${sep}search_path=$schema"
pg_dump --schema="$schema" --no-owner --no-privileges "$PG" | sed "s/$schema/UPGRADE_SCHEMA/g" >"$here/$name.pg.sql"
psql -q "$PG" -c "DROP SCHEMA $schema CASCADE"
echo "made $here/$name.sqlite and $here/$name.pg.sql from $commit"
