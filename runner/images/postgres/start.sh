#!/bin/sh
# Starts Postgres, then gives the role `app` the pod's password
# (POSTGRES_PASSWORD) over the local socket. The readiness probe logs in as
# `app` over TCP, so the pod is ready only once this is done.
set -eu
: "${POSTGRES_PASSWORD:?racebench sets a password per pod}"
password=$POSTGRES_PASSWORD
unset POSTGRES_PASSWORD
postgres "$@" &
server=$!
trap 'kill -INT "$server" 2>/dev/null' INT TERM
until pg_isready -q; do
  kill -0 "$server" 2>/dev/null || { wait "$server"; exit 1; }
  sleep 0.01
done
printf '%s\n' "ALTER ROLE app PASSWORD :'password';" \
  | psql -q -v ON_ERROR_STOP=1 -v password="$password" -d postgres
wait "$server"
