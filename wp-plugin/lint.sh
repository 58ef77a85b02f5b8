#!/bin/sh
# Lint the WordPress plugin: `php -l` on every PHP file, then PHP_CodeSniffer
# with wp-plugin/phpcs.xml.dist. Exits non-zero on any problem.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
status=0
for file in $(find "$here/igbridge" -name '*.php' | sort); do
    if ! out=$(php -l "$file" 2>&1); then
        echo "$out"
        status=1
    fi
done
command -v phpcs >/dev/null 2>&1 || { echo "lint.sh: phpcs not found (apt-get install php-codesniffer)"; exit 1; }
phpcs --standard="$here/phpcs.xml.dist" --basepath="$here" "$here/igbridge" || status=1
[ "$status" -eq 0 ] && echo "wp-plugin lint: clean"
exit "$status"
