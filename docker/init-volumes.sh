#!/bin/sh
# Runs as root in the volume-init service before WordPress and the setup start.
# A new named volume is owned by root; WordPress (www-data, uid 33 in the apache
# image) writes uploads, and the setup (also uid 33) writes the application
# password that the sidecar (gid 33, see Dockerfile) reads.
set -eu

WWW_DATA=33

chown "$WWW_DATA:$WWW_DATA" /volumes/wp-uploads
chmod 0755 /volumes/wp-uploads

# Group-readable only: the sidecar's user is in group 33, nobody else needs it.
chown "$WWW_DATA:$WWW_DATA" /volumes/igbridge-credentials
chmod 0750 /volumes/igbridge-credentials

echo "igbridge volume-init: uploads and credentials volumes belong to uid $WWW_DATA"
