<?php

/**
 * Instagram export ZIPs uploaded through WordPress for the sidecar to read.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Stores uploaded export ZIPs under uploads/igbridge with unguessable names
 * (they hold personal data) and vouches for paths handed to the sidecar, so a
 * job can only read files that came in through this upload.
 */
class IGBridge_Zip_Upload
{
    public const SUBDIR = 'igbridge';

    /**
     * Absolute directory the ZIPs go to (no trailing slash).
     */
    public static function directory(): string
    {
        $uploads = wp_upload_dir(null, false);
        return untrailingslashit($uploads['basedir']) . '/' . self::SUBDIR;
    }

    /**
     * Moves one uploaded file (an entry of $_FILES) into the directory.
     *
     * @param array<string, mixed> $file The uploaded file's $_FILES entry.
     * @return array{path: string, name: string, size: int}|WP_Error
     */
    public static function store(array $file)
    {
        if (! isset($file['tmp_name'], $file['name']) || ! is_string($file['tmp_name']) || '' === $file['tmp_name']) {
            return new WP_Error('igbridge_upload_missing', __('No file was uploaded: send the ZIP in a form field named "file".', 'igbridge'), array('status' => 400));
        }
        $original = sanitize_file_name(wp_basename((string) $file['name']));
        if ('zip' !== strtolower(pathinfo($original, PATHINFO_EXTENSION))) {
            return new WP_Error(
                'igbridge_upload_not_zip',
                /* translators: %s: file name. */
                sprintf(__('%s is not a .zip file. Upload the ZIP from Instagram\'s "Download your information" (JSON format).', 'igbridge'), $original),
                array('status' => 400)
            );
        }
        if (is_uploaded_file($file['tmp_name']) && ! self::has_zip_signature($file['tmp_name'])) {
            return new WP_Error(
                'igbridge_upload_not_zip',
                /* translators: %s: file name. */
                sprintf(__('%s does not contain ZIP data (its first bytes are not a ZIP header).', 'igbridge'), $original),
                array('status' => 400)
            );
        }
        $dir = self::prepare_directory();
        if (is_wp_error($dir)) {
            return $dir;
        }

        require_once ABSPATH . 'wp-admin/includes/file.php';
        $redirect = static function (array $uploads): array {
            // Built from $uploads, not self::directory(): that calls wp_upload_dir() and would recurse.
            $uploads['path']   = untrailingslashit($uploads['basedir']) . '/' . self::SUBDIR;
            $uploads['url']    = untrailingslashit($uploads['baseurl']) . '/' . self::SUBDIR;
            $uploads['subdir'] = '/' . self::SUBDIR;
            return $uploads;
        };
        // A random prefix: the directory may be web-served, and an export is private.
        $file['name'] = wp_generate_password(20, false) . '-' . $original;
        add_filter('upload_dir', $redirect);
        $result = wp_handle_upload(
            $file,
            array(
                'test_form' => false,
                'action'    => 'igbridge_upload',
                'mimes'     => array('zip' => 'application/zip'),
            )
        );
        remove_filter('upload_dir', $redirect);

        if (isset($result['error'])) {
            return new WP_Error('igbridge_upload_failed', (string) $result['error'], array('status' => 400));
        }
        return array(
            'path' => (string) $result['file'],
            'name' => $original,
            'size' => (int) filesize($result['file']),
        );
    }

    /**
     * The real path of an uploaded export if $path is one, else a WP_Error.
     *
     * @param string $path Path claimed by a job request.
     * @return string|WP_Error
     */
    public static function verified_path(string $path)
    {
        $real = realpath($path);
        $root = realpath(self::directory());
        if (false === $real || false === $root || ! str_starts_with($real, $root . DIRECTORY_SEPARATOR) || ! is_file($real)) {
            return new WP_Error(
                'igbridge_export_path',
                __('The export path is not a ZIP uploaded through igbridge. Upload the ZIP again.', 'igbridge'),
                array('status' => 400)
            );
        }
        if ('zip' !== strtolower(pathinfo($real, PATHINFO_EXTENSION))) {
            return new WP_Error('igbridge_export_path', __('The export path does not name a .zip file.', 'igbridge'), array('status' => 400));
        }
        return $real;
    }

    /**
     * Removes the directory and everything in it (used on uninstall).
     */
    public static function delete_all(): void
    {
        $dir = self::directory();
        if (! is_dir($dir)) {
            return;
        }
        foreach ((array) glob($dir . '/{,.}*', GLOB_BRACE) as $entry) {
            if (is_string($entry) && is_file($entry)) {
                wp_delete_file($entry);
            }
        }
        // phpcs:ignore -- rmdir of our own, now empty, directory.
        @rmdir($dir);
    }

    /**
     * True when the file starts with a ZIP local-file or end-of-directory header.
     *
     * @param string $path File to sniff.
     */
    private static function has_zip_signature(string $path): bool
    {
        $head = (string) file_get_contents($path, false, null, 0, 4);
        return in_array($head, array("PK\x03\x04", "PK\x05\x06"), true);
    }

    /**
     * Creates the directory with files that stop listing and direct download where the server honours them.
     *
     * @return true|WP_Error
     */
    private static function prepare_directory()
    {
        $dir = self::directory();
        if (! wp_mkdir_p($dir)) {
            return new WP_Error(
                'igbridge_upload_dir',
                /* translators: %s: directory path. */
                sprintf(__('Could not create the upload directory %s. Check that wp-content/uploads is writable.', 'igbridge'), $dir),
                array('status' => 500)
            );
        }
        $guards = array(
            'index.php'  => "<?php\n// Silence is golden.\n",
            '.htaccess'  => "Require all denied\n",
        );
        foreach ($guards as $name => $content) {
            if (! file_exists($dir . '/' . $name)) {
                file_put_contents($dir . '/' . $name, $content);
            }
        }
        return true;
    }
}
