#!/bin/sh
# The first start makes the cluster: POSTGRES_USER is its superuser, with POSTGRES_PASSWORD, and owns the
# database POSTGRES_DB; other hosts log in with the password. Later starts find it in the volume.
set -eu
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  password_file=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$password_file"
  initdb --username="$POSTGRES_USER" --pwfile="$password_file" --auth-local=trust --auth-host=scram-sha-256 \
    >/dev/null
  rm -f "$password_file"
  echo "host all all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
  database=${POSTGRES_DB:-$POSTGRES_USER}
  if [ "$database" != postgres ]; then
    pg_ctl --wait --options="-c listen_addresses=''" start >/dev/null
    createdb --username="$POSTGRES_USER" "$database"
    pg_ctl --wait stop >/dev/null
  fi
fi
exec postgres -c listen_addresses='*'
