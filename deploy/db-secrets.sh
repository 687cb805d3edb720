#!/bin/sh
# Makes the database secrets docker-compose.yml mounts, in DIR (default ./secrets), each
# once: the PostgreSQL superuser's password, and for each service the password of its own
# role (read by deploy/postgres/init.sql) and its database URL (read by the service
# through <SERVICE>_DATABASE_URL_FILE). Run it beside `crm keys --dir DIR`.
set -eu
dir=${1:-./secrets}
umask 077
mkdir -p "$dir"

password() {
  # 32 URL-safe characters: nothing to escape in the URL's userinfo.
  head -c 24 /dev/urandom | base64 | tr '+/' '-_'
}

once() {
  if [ ! -e "$dir/$1" ]; then printf '%s\n' "$2" > "$dir/$1"; fi
}

once postgres-password "$(password)"
for service in contacts consent campaigns; do
  once "$service-db-password" "$(password)"
  secret=$(cat "$dir/$service-db-password")
  once "$service-database-url" "postgresql+psycopg://$service:$secret@postgres:5432/$service"
done
echo "database secrets in $dir"
