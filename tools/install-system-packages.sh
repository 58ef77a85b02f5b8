#!/usr/bin/env bash
# Install the Debian packages the local stack and the tests need, once.
# Idempotent: does nothing when every package is already installed.
set -euo pipefail

# redis-server and nginx: the scaled stack (`make stack-up SIDECARS=2`) and its tests.
packages=(wordpress php-cli php-mysql php-gd php-xml php-mbstring php-curl php-intl php-zip
          mariadb-server chromium php-codesniffer nodejs npm redis-server nginx)

missing=()
for pkg in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        # nodejs/npm may come from elsewhere (nodesource, nvm): a working binary is enough.
        case "$pkg" in
            nodejs) command -v node >/dev/null && continue ;;
            npm) command -v npm >/dev/null && continue ;;
        esac
        missing+=("$pkg")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing Debian packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
fi
# The wordpress package pulls in Apache; keep apt from starting any service.
created_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    created_policy=1
fi
trap '[ -n "$created_policy" ] && $sudo rm -f /usr/sbin/policy-rc.d' EXIT
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq "${missing[@]}" >/dev/null
echo "Debian packages installed"
