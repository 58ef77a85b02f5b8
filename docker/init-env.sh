#!/usr/bin/env bash
# Writes .env for docker-compose.yml from .env.example, filling the required
# secrets (IGBRIDGE_SECRET, WP_ADMIN_PASSWORD, MARIADB_PASSWORD) with random
# values. Never overwrites an existing file: secrets already in use stay.
#
#   docker/init-env.sh [TARGET]      TARGET defaults to .env next to docker-compose.yml
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
example="$repo/.env.example"
target=${1:-"$repo/.env"}
SECRETS=(IGBRIDGE_SECRET WP_ADMIN_PASSWORD MARIADB_PASSWORD)

[ -f "$example" ] || { echo "init-env: $example is missing" >&2; exit 1; }
if [ -e "$target" ]; then
    echo "init-env: $target exists; leaving it as it is (delete it to start over)" >&2
    exit 0
fi

# 32 characters from [A-Za-z0-9]: safe in URLs, shells, YAML and PHP strings.
random_secret() {
    local value=""
    while [ "${#value}" -lt 32 ]; do
        value+=$(head -c 64 /dev/urandom | LC_ALL=C tr -dc 'A-Za-z0-9')
    done
    printf '%s' "${value:0:32}"
}

tmp=$(mktemp "$target.XXXXXX")
trap 'rm -f "$tmp"' EXIT
chmod 0600 "$tmp"
while IFS= read -r line || [ -n "$line" ]; do
    for name in "${SECRETS[@]}"; do
        if [ "$line" = "$name=" ]; then
            line="$name=$(random_secret)"
        fi
    done
    printf '%s\n' "$line"
done <"$example" >"$tmp"
mv "$tmp" "$target"
trap - EXIT
echo "init-env: wrote $target with new random secrets (mode 0600)" >&2
