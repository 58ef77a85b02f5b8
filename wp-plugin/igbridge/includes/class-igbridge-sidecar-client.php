<?php

/**
 * Server-to-server calls from WordPress to the sidecar.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Talks to the sidecar at `internal_url` with the shared secret as a bearer
 * token. Answers are the sidecar's JSON and status, or a WP_Error that says
 * what went wrong in words an administrator can act on.
 */
class IGBridge_Sidecar_Client
{
    public const TIMEOUT_SECONDS = 15;

    /** A chunk of a few MB may cross a slow link between WordPress and the sidecar. */
    public const CHUNK_TIMEOUT_SECONDS = 120;

    /**
     * Base URL without a trailing slash.
     *
     * @var string
     */
    private string $base_url;

    /**
     * Shared bearer secret.
     *
     * @var string
     */
    private string $secret;

    /**
     * Client for the configured sidecar.
     */
    public static function from_settings(): self
    {
        $settings = IGBridge_Settings::all();
        return new self($settings['internal_url'], $settings['secret']);
    }

    /**
     * @param string $base_url Sidecar URL as WordPress reaches it.
     * @param string $secret   Shared bearer secret.
     */
    public function __construct(string $base_url, string $secret)
    {
        $this->base_url = untrailingslashit($base_url);
        $this->secret   = $secret;
    }

    /**
     * The URL WordPress uses for the sidecar (for messages).
     */
    public function base_url(): string
    {
        return $this->base_url;
    }

    /**
     * Calls the sidecar with a JSON body (or none).
     *
     * @param string                    $method HTTP method.
     * @param string                    $path   Path starting with "/", e.g. "/api/jobs".
     * @param array<string, mixed>|null $body   JSON body, or null for none.
     * @param array<string, mixed>      $query  Query arguments.
     * @param bool                      $authed Send the bearer secret.
     * @param int                       $timeout Seconds to wait for the answer.
     * @return array{status: int, body: mixed, data: mixed}|WP_Error
     *         `body` keeps JSON objects as objects (an empty `{}` stays `{}` when passed on);
     *         `data` is the same answer as arrays, for reading fields in PHP.
     */
    public function request(string $method, string $path, ?array $body = null, array $query = array(), bool $authed = true, int $timeout = self::TIMEOUT_SECONDS)
    {
        $args = array(
            'method'  => $method,
            'timeout' => $timeout,
            'headers' => array(),
        );
        if (null !== $body) {
            $args['headers']['Content-Type'] = 'application/json';
            $args['body']                    = wp_json_encode((object) $body);
        }
        return $this->send($path, $args, $query, $authed);
    }

    /**
     * Sends raw bytes (an upload chunk) with the given headers; the answer is JSON as for request().
     *
     * @param string                $method  HTTP method.
     * @param string                $path    Path starting with "/".
     * @param string                $bytes   The body, passed on unchanged.
     * @param array<string, string> $headers Extra headers, e.g. Upload-Offset.
     * @return array{status: int, body: mixed, data: mixed}|WP_Error
     */
    public function send_bytes(string $method, string $path, string $bytes, array $headers)
    {
        $args = array(
            'method'  => $method,
            'timeout' => self::CHUNK_TIMEOUT_SECONDS,
            'headers' => $headers + array('Content-Type' => 'application/offset+octet-stream'),
            'body'    => $bytes,
        );
        return $this->send($path, $args, array(), true);
    }

    /**
     * One call to the sidecar, its errors turned into sentences.
     *
     * @param string               $path   Path starting with "/".
     * @param array<string, mixed> $args   wp_remote_request() arguments (method, timeout, headers, body).
     * @param array<string, mixed> $query  Query arguments.
     * @param bool                 $authed Send the bearer secret.
     * @return array{status: int, body: mixed, data: mixed}|WP_Error
     */
    private function send(string $path, array $args, array $query, bool $authed)
    {
        if ('' === $this->base_url) {
            return new WP_Error(
                'igbridge_not_configured',
                __('The sidecar URL is not set. Enter it under Settings → igbridge.', 'igbridge'),
                array('status' => 503)
            );
        }
        if ($authed && '' === $this->secret) {
            return new WP_Error(
                'igbridge_not_configured',
                __('The shared secret is not set. Enter it under Settings → igbridge.', 'igbridge'),
                array('status' => 503)
            );
        }

        $url = $this->base_url . $path;
        if (array() !== $query) {
            $url = add_query_arg(rawurlencode_deep($query), $url);
        }
        $args['redirection']       = 0;
        $args['headers']['Accept'] = 'application/json';
        if ($authed) {
            $args['headers']['Authorization'] = 'Bearer ' . $this->secret;
        }

        // The sidecar is usually on loopback, which WP_HTTP_BLOCK_EXTERNAL and the safe-URL checks leave alone.
        $response = wp_remote_request($url, $args);
        if (is_wp_error($response)) {
            return new WP_Error(
                'igbridge_sidecar_unreachable',
                sprintf(
                    /* translators: 1: sidecar URL, 2: transport error message. */
                    __('The sidecar at %1$s could not be reached: %2$s', 'igbridge'),
                    $this->base_url,
                    $response->get_error_message()
                ),
                array('status' => 502)
            );
        }

        $status = (int) wp_remote_retrieve_response_code($response);
        if (401 === $status && $authed) {
            return new WP_Error(
                'igbridge_sidecar_auth',
                sprintf(
                    /* translators: %s: sidecar URL. */
                    __('The sidecar at %s refused the request: the shared secret does not match. Copy the sidecar\'s IGBRIDGE_SECRET into Settings → igbridge.', 'igbridge'),
                    $this->base_url
                ),
                array('status' => 502)
            );
        }

        $raw     = (string) wp_remote_retrieve_body($response);
        $decoded = '' === $raw ? null : json_decode($raw);
        if ('' !== $raw && JSON_ERROR_NONE !== json_last_error()) {
            return new WP_Error(
                'igbridge_sidecar_bad_response',
                sprintf(
                    /* translators: 1: sidecar URL, 2: HTTP status code. */
                    __('The sidecar at %1$s answered HTTP %2$d with something that is not JSON. Is that URL really the igbridge sidecar?', 'igbridge'),
                    $this->base_url,
                    $status
                ),
                array('status' => 502)
            );
        }
        return array(
            'status' => $status,
            'body'   => $decoded,
            'data'   => '' === $raw ? null : json_decode($raw, true),
        );
    }
}
