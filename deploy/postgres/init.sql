-- One role per service, each owning its own database and nothing else: a service
-- that is broken into cannot read, or even connect to, another service's data.
--
-- Run once by the postgres image on an empty data directory (compose mounts this
-- folder as /docker-entrypoint-initdb.d), or by hand as a superuser:
--   psql -v ON_ERROR_STOP=1 -v secrets_dir=./secrets -f deploy/postgres/init.sql
-- Each role's password is read from <secrets_dir>/<service>-db-password (compose
-- secrets: /run/secrets). `prefix` (default empty) goes before every role and
-- database name, so the tests can run this very file beside other databases.
\set ON_ERROR_STOP on
\if :{?prefix}
\else
  \set prefix ''
\endif
\if :{?secrets_dir}
\else
  \set secrets_dir /run/secrets
\endif

\set service contacts
\ir service.psql
\set service consent
\ir service.psql
\set service campaigns
\ir service.psql
