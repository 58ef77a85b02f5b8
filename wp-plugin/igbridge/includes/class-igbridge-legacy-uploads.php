<?php

/**
 * Removes what plugin 0.1.0 left in wp-content/uploads/igbridge/: uploaded exports.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Versions up to 0.1.0 stored uploaded export ZIPs (personal data) in the uploads
 * directory, where a server that ignores .htaccess (nginx, PHP's built-in server)
 * hands them to anyone. Exports now go to the sidecar; this removes the old copies
 * once, on the first admin request after an upgrade, and again on uninstall.
 */
class IGBridge_Legacy_Uploads
{
    public const SUBDIR = 'igbridge';

    /** Set once the old directory is gone, so later requests skip the check. */
    public const DONE_OPTION = 'igbridge_legacy_uploads_removed';

    /**
     * Hooks this class into WordPress.
     */
    public static function register_hooks(): void
    {
        add_action('admin_init', array(self::class, 'maybe_remove'));
    }

    /**
     * The directory 0.1.0 wrote to (no trailing slash).
     */
    public static function directory(): string
    {
        $uploads = wp_upload_dir(null, false);
        return untrailingslashit($uploads['basedir']) . '/' . self::SUBDIR;
    }

    /**
     * Removes the old directory unless that was done already.
     */
    public static function maybe_remove(): void
    {
        if (get_option(self::DONE_OPTION)) {
            return;
        }
        if (self::delete_all()) {
            update_option(self::DONE_OPTION, time(), false);
        }
    }

    /**
     * Deletes the directory and everything in it; true when nothing of it is left.
     */
    public static function delete_all(): bool
    {
        $dir = self::directory();
        if (! is_dir($dir)) {
            return true;
        }
        foreach ((array) glob($dir . '/{,.}*', GLOB_BRACE) as $entry) {
            if (is_string($entry) && is_file($entry)) {
                wp_delete_file($entry);
            }
        }
        // phpcs:ignore -- rmdir of our own directory, now empty; a failure is reported by the return value.
        @rmdir($dir);
        return ! is_dir($dir);
    }
}
