#!/bin/sh
# Write the shipped progress files (src/ without comments, see ship.js) into the WordPress
# plugin so its zip is self-contained. test/shipped.test.js fails when they drift from src/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
exec node "$here/ship.js" "$here/../wp-plugin/igbridge/assets/progress"
