#!/bin/sh
# Copy the shipped progress files into the WordPress plugin so its zip is self-contained.
# test/sync.test.js fails when the copies drift from src/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dest="$here/../wp-plugin/igbridge/assets/progress"
mkdir -p "$dest"
rm -f "$dest"/*.js "$dest"/*.css
cp "$here"/src/*.js "$here"/src/*.css "$dest"/
echo "synced $(ls "$here"/src/*.js "$here"/src/*.css | wc -l | tr -d " ") files into wp-plugin/igbridge/assets/progress/"
