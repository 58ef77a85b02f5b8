<?php

/**
 * The plugin's one option, `igbridge_settings`: defaults, reading, sanitizing.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Owns the stored settings. The secret is kept here and handed only to the
 * sidecar client; anything meant for a screen goes through masked_secret().
 */
class IGBridge_Settings
{
    public const OPTION = 'igbridge_settings';

    public const DEFAULT_APIFY_LIMIT = 20;

    public const MAX_APIFY_LIMIT = 1000;

    /**
     * Settings with defaults filled in.
     *
     * @return array{public_url: string, internal_url: string, secret: string, apify_limit: int}
     */
    public static function all(): array
    {
        $stored = get_option(self::OPTION, array());
        if (! is_array($stored)) {
            $stored = array();
        }
        $public   = isset($stored['public_url']) ? (string) $stored['public_url'] : '';
        $internal = isset($stored['internal_url']) ? (string) $stored['internal_url'] : '';
        return array(
            'public_url'   => $public,
            // WordPress usually reaches the sidecar where the browser does, unless told otherwise.
            'internal_url' => '' !== $internal ? $internal : $public,
            'secret'       => isset($stored['secret']) ? (string) $stored['secret'] : '',
            'apify_limit'  => isset($stored['apify_limit']) ? absint($stored['apify_limit']) : self::DEFAULT_APIFY_LIMIT,
        );
    }

    /**
     * One setting by key.
     *
     * @param string $key One of public_url, internal_url, secret, apify_limit.
     * @return string|int
     */
    public static function get(string $key)
    {
        $all = self::all();
        return $all[$key] ?? '';
    }

    /**
     * The secret as it may be shown: its last four characters only.
     */
    public static function masked_secret(): string
    {
        $secret = self::all()['secret'];
        if ('' === $secret) {
            return '';
        }
        $tail = strlen($secret) > 8 ? substr($secret, -4) : '';
        return str_repeat('•', 8) . $tail;
    }

    /**
     * Sanitize callback for register_setting(). A blank secret keeps the stored one,
     * because the form never receives the stored secret to send back.
     *
     * @param mixed $input Raw submitted value.
     * @return array{public_url: string, internal_url: string, secret: string, apify_limit: int}
     */
    public static function sanitize($input): array
    {
        $current = self::stored();
        $input   = is_array($input) ? wp_unslash($input) : array();

        $clean = array(
            'public_url'   => self::sanitize_url($input['public_url'] ?? '', 'public_url', __('Sidecar URL (browser)', 'igbridge')),
            'internal_url' => self::sanitize_url($input['internal_url'] ?? '', 'internal_url', __('Sidecar URL (WordPress)', 'igbridge')),
            'secret'       => $current['secret'] ?? '',
            'apify_limit'  => self::DEFAULT_APIFY_LIMIT,
        );

        $secret = isset($input['secret']) && is_string($input['secret']) ? trim($input['secret']) : '';
        if ('' !== $secret) {
            if (preg_match('/[^\x21-\x7e]/', $secret)) {
                add_settings_error(
                    self::OPTION,
                    'igbridge_secret',
                    __('The shared secret may contain only printable ASCII characters without spaces; the stored secret was kept.', 'igbridge')
                );
            } else {
                $clean['secret'] = $secret;
            }
        }

        $limit = isset($input['apify_limit']) ? absint($input['apify_limit']) : 0;
        if ($limit < 1 || $limit > self::MAX_APIFY_LIMIT) {
            add_settings_error(
                self::OPTION,
                'igbridge_apify_limit',
                /* translators: %d: the largest allowed number of posts. */
                sprintf(__('The default Apify limit must be a whole number from 1 to %d; it was set to 20.', 'igbridge'), self::MAX_APIFY_LIMIT)
            );
        } else {
            $clean['apify_limit'] = $limit;
        }
        return $clean;
    }

    /**
     * The raw stored array (no defaults), so sanitize() can keep the old secret.
     *
     * @return array<string, mixed>
     */
    private static function stored(): array
    {
        $stored = get_option(self::OPTION, array());
        return is_array($stored) ? $stored : array();
    }

    /**
     * An http(s) URL without a trailing slash, or '' with a settings error.
     *
     * @param mixed  $value The submitted value.
     * @param string $code  Error code suffix.
     * @param string $label Field label for the message.
     */
    private static function sanitize_url($value, string $code, string $label): string
    {
        $value = is_string($value) ? trim($value) : '';
        if ('' === $value) {
            return '';
        }
        $url   = esc_url_raw($value, array('http', 'https'));
        $parts = '' === $url ? false : wp_parse_url($url);
        // Loopback hosts are fine here (wp_http_validate_url() would refuse them); credentials in the URL are not.
        $valid = is_array($parts) && ! empty($parts['host']) && empty($parts['user']) && empty($parts['pass'])
            && in_array($parts['scheme'] ?? '', array('http', 'https'), true);
        if (! $valid) {
            add_settings_error(
                self::OPTION,
                'igbridge_' . $code,
                /* translators: 1: field label, 2: the rejected value. */
                sprintf(__('%1$s is not a valid http(s) URL without user name or password: %2$s', 'igbridge'), $label, $value)
            );
            return '';
        }
        return untrailingslashit($url);
    }
}
