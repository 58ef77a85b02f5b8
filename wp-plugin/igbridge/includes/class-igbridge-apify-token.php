<?php

/**
 * The Apify token, set from wp-admin and kept by the sidecar, never by WordPress.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Write-only: the settings form sends a token on to the sidecar server to server
 * (which stores it in its data dir, mode 0600) and only ever reads back whether one
 * is set and where it comes from. The sidecar's APIFY_TOKEN environment variable
 * wins over a token saved here; the sidecar says so.
 */
class IGBridge_Apify_Token
{
    public const FIELD = 'apify_token';

    public const CLEAR_FIELD = 'apify_token_clear';

    public const MAX_LENGTH = 200;

    private const ROUTE = '/api/settings/apify-token';

    /** The settings page waits this long for the token's status before saying it is unknown. */
    private const STATUS_TIMEOUT_SECONDS = 5;

    /**
     * Sends what the settings form asked for (a new token, or removing the saved one) to the sidecar,
     * reporting the outcome as a settings message. A blank field changes nothing.
     *
     * @param array<string, mixed>    $input  The submitted settings (already unslashed).
     * @param IGBridge_Sidecar_Client $client The sidecar as the form's new settings reach it.
     */
    public static function apply_form(array $input, IGBridge_Sidecar_Client $client): void
    {
        $token = isset($input[self::FIELD]) && is_string($input[self::FIELD]) ? trim($input[self::FIELD]) : '';
        $clear = ! empty($input[self::CLEAR_FIELD]);
        if ('' === $token && ! $clear) {
            return;
        }
        if ('' !== $token && (strlen($token) > self::MAX_LENGTH || preg_match('/[^\x21-\x7e]/', $token))) {
            add_settings_error(
                IGBridge_Settings::OPTION,
                'igbridge_apify_token',
                /* translators: %d: the longest accepted token. */
                sprintf(__('The Apify token may hold only printable ASCII characters without spaces, at most %d; it was not sent to the sidecar.', 'igbridge'), self::MAX_LENGTH)
            );
            return;
        }
        $result = '' !== $token
            ? $client->request('PUT', self::ROUTE, array('token' => $token))
            : $client->request('DELETE', self::ROUTE);
        $answer = self::answer($result);
        if (is_wp_error($answer)) {
            add_settings_error(
                IGBridge_Settings::OPTION,
                'igbridge_apify_token',
                '' !== $token
                    /* translators: %s: why the sidecar did not take it. */
                    ? sprintf(__('The Apify token was not saved: %s', 'igbridge'), $answer->get_error_message())
                    /* translators: %s: why the sidecar did not remove it. */
                    : sprintf(__('The saved Apify token was not removed: %s', 'igbridge'), $answer->get_error_message())
            );
            return;
        }
        $message = '' !== $token
            ? __('The Apify token was saved in the sidecar. Use "Test connection" to check it.', 'igbridge')
            : __('The Apify token saved in the sidecar was removed.', 'igbridge');
        if ('environment' === $answer['source']) {
            $message .= ' ' . __('The sidecar\'s APIFY_TOKEN environment variable is set, and it is the token in use.', 'igbridge');
        }
        add_settings_error(IGBridge_Settings::OPTION, 'igbridge_apify_token', $message, 'success');
    }

    /**
     * Whether the sidecar has a token and where it comes from.
     *
     * @param IGBridge_Sidecar_Client $client The configured sidecar.
     * @return array{set: bool, source: string}|WP_Error `source`: "environment", "saved" or "".
     */
    public static function status(IGBridge_Sidecar_Client $client)
    {
        return self::answer($client->request('GET', self::ROUTE, null, array(), true, self::STATUS_TIMEOUT_SECONDS));
    }

    /**
     * The sidecar asks Apify whether the token in use is valid.
     *
     * @param IGBridge_Sidecar_Client $client The configured sidecar.
     * @return array{ok: bool, status: string, message: string}
     *         `status`: ok, not_set, invalid, unreachable or error (from the sidecar), or sidecar (it could not be asked).
     */
    public static function check(IGBridge_Sidecar_Client $client): array
    {
        $result = $client->request('POST', self::ROUTE . '/check', array());
        if (is_wp_error($result)) {
            return array(
                'ok'      => false,
                'status'  => 'sidecar',
                'message' => $result->get_error_message(),
            );
        }
        $data = is_array($result['data']) ? $result['data'] : array();
        if (200 !== $result['status'] || ! isset($data['status'], $data['message'])) {
            return array(
                'ok'      => false,
                'status'  => 'sidecar',
                'message' => self::sidecar_refusal($result),
            );
        }
        return array(
            'ok'      => 'ok' === $data['status'],
            'status'  => (string) $data['status'],
            'message' => (string) $data['message'],
        );
    }

    /**
     * The sidecar's {set, source} answer, or why there is none.
     *
     * @param array{status: int, body: mixed, data: mixed}|WP_Error $result A client result.
     * @return array{set: bool, source: string}|WP_Error
     */
    private static function answer($result)
    {
        if (is_wp_error($result)) {
            return $result;
        }
        $data = is_array($result['data']) ? $result['data'] : array();
        if ($result['status'] < 200 || $result['status'] >= 300 || ! isset($data['set'])) {
            return new WP_Error('igbridge_apify_token', self::sidecar_refusal($result), array('status' => 502));
        }
        return array(
            'set'    => (bool) $data['set'],
            'source' => is_string($data['source'] ?? null) ? $data['source'] : '',
        );
    }

    /**
     * The sidecar's own error message, or its HTTP status when it sent none.
     *
     * @param array{status: int, body: mixed, data: mixed} $result A client result that is not a success.
     */
    private static function sidecar_refusal(array $result): string
    {
        $data    = is_array($result['data']) ? $result['data'] : array();
        $message = isset($data['error']['message']) && is_string($data['error']['message']) ? $data['error']['message'] : '';
        return '' !== $message
            ? $message
            /* translators: %d: HTTP status code. */
            : sprintf(__('the sidecar answered HTTP %d; is it a version that stores the Apify token?', 'igbridge'), $result['status']);
    }
}
