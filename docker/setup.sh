#!/usr/bin/env bash
# One-shot WordPress setup for docker-compose.yml, run by the `setup` service in
# the official wordpress:cli image as uid 33 (the apache image's www-data).
#
# Installs WordPress, activates the igbridge plugin, turns on pretty permalinks,
# gives the sidecar an application password (written to WP_APP_PASSWORD_FILE)
# and stores the plugin's settings. Running it again is safe: it converges on the
# environment and keeps an application password that still works, so a running
# sidecar is not locked out.
set -euo pipefail

APP_PASSWORD_NAME=igbridge
SETTINGS_OPTION=igbridge_settings
PLUGIN=igbridge

log() { printf 'igbridge setup: %s\n' "$*" >&2; }
fail() { log "error: $*"; exit 1; }

require() {
    local name
    for name in "$@"; do
        [ -n "${!name:-}" ] || fail "$name is empty: docker-compose.yml passes it from .env (see .env.example)"
    done
}

# True once MariaDB takes the WordPress credentials (PHP's mysqli: the mysql
# client binary behind `wp db check` may refuse MariaDB 11's self-signed TLS).
database_answers() {
    php -r '
        mysqli_report(MYSQLI_REPORT_OFF);
        $link = @mysqli_connect(getenv("WORDPRESS_DB_HOST"), getenv("WORDPRESS_DB_USER"),
            getenv("WORDPRESS_DB_PASSWORD"), getenv("WORDPRESS_DB_NAME"));
        exit($link ? 0 : 1);'
}

wait_for_wordpress() {
    local timeout=${SETUP_TIMEOUT_SECONDS:-180}
    local deadline=$((SECONDS + timeout))
    # The wordpress container's entrypoint copies WordPress and writes wp-config.php.
    until [ -s wp-config.php ] && [ -s wp-includes/version.php ] && database_answers; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            fail "WordPress files or the database were not ready after ${timeout} s" \
                "(wp-config.php present: $([ -s wp-config.php ] && echo yes || echo no))"
        fi
        sleep 2
    done
}

install_wordpress() {
    if wp core is-installed 2>/dev/null; then
        log "WordPress is installed already"
    else
        log "installing WordPress at $WP_PUBLIC_URL"
        wp core install --url="$WP_PUBLIC_URL" --title="$WP_SITE_TITLE" \
            --admin_user="$WP_ADMIN_USER" --admin_password="$WP_ADMIN_PASSWORD" \
            --admin_email="$WP_ADMIN_EMAIL" --skip-email
    fi
    wp user get "$WP_ADMIN_USER" --field=ID >/dev/null 2>&1 ||
        fail "admin user '$WP_ADMIN_USER' does not exist in this WordPress (WP_ADMIN_USER changed after the first install?)"
    # .env is the source of truth for the admin password, as in dev/stack.py. Only
    # a changed password is written: a new hash would log the admin out.
    if ! wp eval '
        $user = get_user_by("login", getenv("WP_ADMIN_USER"));
        exit(wp_check_password(getenv("WP_ADMIN_PASSWORD"), $user->user_pass, $user->ID) ? 0 : 1);'; then
        wp user update "$WP_ADMIN_USER" --user_pass="$WP_ADMIN_PASSWORD" --skip-email >/dev/null
        log "set the password of $WP_ADMIN_USER from WP_ADMIN_PASSWORD"
    fi
}

activate_plugin() {
    [ -f "wp-content/plugins/$PLUGIN/$PLUGIN.php" ] ||
        fail "wp-content/plugins/$PLUGIN/$PLUGIN.php is missing: is ./wp-plugin/igbridge mounted?"
    if wp plugin is-active "$PLUGIN"; then
        log "plugin $PLUGIN is active already"
    else
        wp plugin activate "$PLUGIN"
    fi
}

# True when the password in the file still logs the admin in (checked by
# WordPress itself, so it holds whatever hashing this WordPress version uses).
stored_app_password_works() {
    [ -s "$WP_APP_PASSWORD_FILE" ] || return 1
    IGBRIDGE_CHECK_FILE="$WP_APP_PASSWORD_FILE" wp eval '
        add_filter("application_password_is_api_request", "__return_true");
        $_SERVER["REMOTE_ADDR"] = $_SERVER["REMOTE_ADDR"] ?? "127.0.0.1";
        $password = trim((string) file_get_contents(getenv("IGBRIDGE_CHECK_FILE")));
        $user = wp_authenticate_application_password(null, getenv("WP_ADMIN_USER"), $password);
        exit($user instanceof WP_User ? 0 : 1);' 2>/dev/null
}

write_app_password_file() {
    local password=$1 dir tmp
    dir=$(dirname "$WP_APP_PASSWORD_FILE")
    tmp=$(mktemp "$dir/.wp-app-password.XXXXXX")
    # Group-readable: the sidecar runs in group 33 (see Dockerfile).
    chmod 0640 "$tmp"
    printf '%s\n' "$password" >"$tmp"
    mv -f "$tmp" "$WP_APP_PASSWORD_FILE"
}

ensure_app_password() {
    if stored_app_password_works; then
        log "the application password in $WP_APP_PASSWORD_FILE still works; keeping it"
        return
    fi
    # WordPress refuses a second password with the same name: drop the old ones.
    local uuids uuid password
    uuids=$(wp user application-password list "$WP_ADMIN_USER" --name="$APP_PASSWORD_NAME" --field=uuid)
    for uuid in $uuids; do
        wp user application-password delete "$WP_ADMIN_USER" "$uuid" >/dev/null
    done
    password=$(wp user application-password create "$WP_ADMIN_USER" "$APP_PASSWORD_NAME" --porcelain)
    [ -n "$password" ] || fail "wp-cli printed no application password"
    write_app_password_file "$password"
    log "created application password '$APP_PASSWORD_NAME' for $WP_ADMIN_USER in $WP_APP_PASSWORD_FILE"
}

# The plugin's one option (IGBridge_Settings::OPTION), built by PHP so that any
# character in the secret or the URLs is encoded correctly.
settings_json() {
    php -r 'echo json_encode(array(
        "public_url"   => rtrim(getenv("IGBRIDGE_PUBLIC_URL"), "/"),
        "internal_url" => rtrim(getenv("IGBRIDGE_INTERNAL_URL"), "/"),
        "secret"       => getenv("IGBRIDGE_SECRET"),
        "apify_limit"  => (int) getenv("IGBRIDGE_APIFY_LIMIT"),
    ), JSON_UNESCAPED_SLASHES);'
}

write_settings() {
    # From stdin, so the secret never shows in a process list.
    settings_json | wp option update "$SETTINGS_OPTION" --format=json >/dev/null
    log "stored $SETTINGS_OPTION (sidecar at $IGBRIDGE_PUBLIC_URL for browsers, $IGBRIDGE_INTERNAL_URL for WordPress)"
}

check_environment() {
    local url_var
    require WORDPRESS_DB_HOST WORDPRESS_DB_NAME WORDPRESS_DB_USER WORDPRESS_DB_PASSWORD \
        WP_PUBLIC_URL WP_SITE_TITLE WP_ADMIN_USER WP_ADMIN_PASSWORD WP_ADMIN_EMAIL \
        WP_APP_PASSWORD_FILE IGBRIDGE_PUBLIC_URL IGBRIDGE_INTERNAL_URL IGBRIDGE_SECRET \
        IGBRIDGE_APIFY_LIMIT

    case "$IGBRIDGE_APIFY_LIMIT" in
        '' | *[!0-9]*) fail "IGBRIDGE_APIFY_LIMIT must be a whole number, got '$IGBRIDGE_APIFY_LIMIT'" ;;
    esac
    for url_var in WP_PUBLIC_URL IGBRIDGE_PUBLIC_URL IGBRIDGE_INTERNAL_URL; do
        case "${!url_var}" in
            http://* | https://*) ;;
            *) fail "$url_var must start with http:// or https://, got '${!url_var}'" ;;
        esac
    done
}

main() {
    check_environment
    cd "${WORDPRESS_PATH:-/var/www/html}"
    wait_for_wordpress
    install_wordpress
    activate_plugin
    wp rewrite structure '/%postname%/' --hard
    ensure_app_password
    write_settings
    log "done: WordPress at $WP_PUBLIC_URL/wp-admin/ (user $WP_ADMIN_USER)"
}

# Sourcing the file (tests do) defines the functions without running anything:
# `return` only succeeds outside a function when the file is being sourced.
if ! (return 0 2>/dev/null); then
    main "$@"
fi
