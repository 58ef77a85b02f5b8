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
     * because the form never receives the stored secret to send back; an invalid URL
     * keeps the stored URL, with an error that names what was refused. The Apify token
     * is not stored here at all: it goes on to the sidecar (see IGBridge_Apify_Token).
     *
     * @param mixed $input Submitted value, already unslashed by options.php.
     * @return array{public_url: string, internal_url: string, secret: string, apify_limit: int}
     */
    public static function sanitize($input): array
    {
        $current = self::stored();
        // No wp_unslash() here: options.php unslashed the form once already, and a second
        // pass would eat every "\" of a secret.
        $input = is_array($input) ? $input : array();

        $labels = array(
            'public_url'   => __('Sidecar URL (browser)', 'igbridge'),
            'internal_url' => __('Sidecar URL (WordPress)', 'igbridge'),
        );
        $clean  = array(
            'public_url'   => self::sanitize_url($input['public_url'] ?? '', (string) ($current['public_url'] ?? ''), 'public_url', $labels['public_url']),
            'internal_url' => self::sanitize_url($input['internal_url'] ?? '', (string) ($current['internal_url'] ?? ''), 'internal_url', $labels['internal_url']),
            'secret'       => (string) ($current['secret'] ?? ''),
            'apify_limit'  => isset($current['apify_limit']) ? absint($current['apify_limit']) : self::DEFAULT_APIFY_LIMIT,
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

        if (isset($input['apify_limit'])) {
            $limit = absint($input['apify_limit']);
            if ($limit < 1 || $limit > self::MAX_APIFY_LIMIT) {
                add_settings_error(
                    self::OPTION,
                    'igbridge_apify_limit',
                    /* translators: 1: the largest allowed number of posts, 2: the limit that was kept. */
                    sprintf(__('The default Apify limit must be a whole number from 1 to %1$d; it stays %2$d.', 'igbridge'), self::MAX_APIFY_LIMIT, $clean['apify_limit'])
                );
            } else {
                $clean['apify_limit'] = $limit;
            }
        }

        // With the URL and secret just entered: they may be what makes the sidecar reachable.
        IGBridge_Apify_Token::apply_form($input, new IGBridge_Sidecar_Client($clean['internal_url'] ? $clean['internal_url'] : $clean['public_url'], $clean['secret']));
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
     * An http(s) URL without a trailing slash, '' for a blank field, or the stored URL
     * (with a settings error) when the submitted one is not valid.
     *
     * @param mixed  $value  The submitted value.
     * @param string $stored The URL stored now, kept when $value is refused.
     * @param string $code   Error code suffix.
     * @param string $label  Field label for the message.
     */
    private static function sanitize_url($value, string $stored, string $code, string $label): string
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
        if ($valid) {
            return untrailingslashit($url);
        }
        add_settings_error(
            self::OPTION,
            'igbridge_' . $code,
            '' === $stored
                /* translators: 1: field label, 2: the rejected value. */
                ? sprintf(__('%1$s is not a valid http(s) URL without user name or password: %2$s. It was not saved.', 'igbridge'), $label, $value)
                /* translators: 1: field label, 2: the rejected value, 3: the URL that stays. */
                : sprintf(__('%1$s is not a valid http(s) URL without user name or password: %2$s. It stays %3$s.', 'igbridge'), $label, $value, $stored)
        );
        return $stored;
    }
}
