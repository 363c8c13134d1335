#!/usr/bin/env bash
# Row-level security as a tenancy backstop: what it costs PostgreSQL (docs/decisions/0027).
# Needs a PostgreSQL superuser connection (PGHOST/PGPORT/PGUSER, default 127.0.0.1:5432 postgres)
# and pgbench. Builds a scratch database rls_bench: 1M contacts in two organizations (90% / 10%),
# the list index of the app, and a non-superuser role rls_app (superusers bypass RLS), then runs
# each variant of the contacts page-1 read for DURATION seconds with CLIENTS connections.
set -euo pipefail
cd "$(dirname "$0")"
export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}"
ADMIN="${PGUSER:-postgres}"
CLIENTS="${CLIENTS:-8}" DURATION="${DURATION:-10}" ROUNDS="${ROUNDS:-2}"
ORG=00000000-0000-4000-8000-000000000001
psql -U "$ADMIN" -d postgres -qc 'DROP DATABASE IF EXISTS rls_bench' -c 'CREATE DATABASE rls_bench'
psql -U "$ADMIN" -d rls_bench -q <<SQL
CREATE TABLE contacts (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), organization_id uuid NOT NULL,
  owner_id uuid NOT NULL, name varchar(200) NOT NULL, email varchar(254),
  created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO contacts (organization_id, owner_id, name, email, created_at)
SELECT CASE WHEN g % 10 = 0 THEN '00000000-0000-4000-8000-000000000002'::uuid ELSE '$ORG'::uuid END,
       '00000000-0000-4000-8000-0000000000aa', 'Contact ' || g, 'c' || g || '@example.com',
       now() - (g || ' seconds')::interval
FROM generate_series(1, 1000000) g;
CREATE INDEX idx_contacts_org_created ON contacts (organization_id, created_at, id);
ANALYZE contacts;
DO \$\$ BEGIN CREATE ROLE rls_app LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END \$\$;
GRANT SELECT ON contacts TO rls_app;
CREATE POLICY tenant ON contacts
  USING (organization_id = current_setting('app.organization_id', true)::uuid);
SQL
bench() { pgbench -U rls_app -n -c "$CLIENTS" -j 2 -T "$DURATION" -f "$1" rls_bench | grep -E '^tps' | sed "s|^|$2: |"; }
rls() { psql -U "$ADMIN" -d rls_bench -qc "ALTER TABLE contacts $1 ROW LEVEL SECURITY"; }
for _ in $(seq "$ROUNDS"); do
  rls DISABLE
  bench list.sql 'RLS off, one statement (today)'
  bench list-in-transaction.sql 'RLS off, BEGIN + statement + COMMIT'
  rls ENABLE
  bench list-rls.sql 'RLS on, BEGIN + set_config + statement + COMMIT'
  PGOPTIONS="-c app.organization_id=$ORG" bench list.sql 'RLS on, setting per session, one statement'
done
psql -U "$ADMIN" -d postgres -qc 'DROP DATABASE rls_bench'
