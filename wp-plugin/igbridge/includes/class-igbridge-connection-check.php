<?php

/**
 * "Test connection": is the sidecar there, does it accept our secret, does its version fit.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Runs the checks in order and stops at the first problem, so the
 * administrator gets one clear thing to fix.
 */
class IGBridge_Connection_Check
{
    /**
     * Sidecar client.
     *
     * @var IGBridge_Sidecar_Client
     */
    private IGBridge_Sidecar_Client $client;

    /**
     * @param IGBridge_Sidecar_Client $client The client to check.
     */
    public function __construct(IGBridge_Sidecar_Client $client)
    {
        $this->client = $client;
    }

    /**
     * Outcome with a machine-readable `status` (ok, not_configured, unreachable,
     * auth, version_mismatch, bad_response) and a human `message`; once the sidecar
     * accepts the secret, `apify` says whether Apify is reachable and the token valid
     * (see IGBridge_Apify_Token::check()), else it is null. Exports import without Apify,
     * so `ok` is about the sidecar alone.
     *
     * @return array<string, mixed> {ok, status, message, url, sidecar_version, plugin_version,
     *         apify: {ok, status, message} or null}
     */
    public function run(): array
    {
        $outcome = $this->check_sidecar();
        if (in_array($outcome['status'], array('ok', 'not_configured'), true) && '' !== $outcome['sidecar_version']) {
            $outcome['apify'] = IGBridge_Apify_Token::check($this->client);
        }
        return $outcome;
    }

    /**
     * The sidecar part of run().
     *
     * @return array{ok: bool, status: string, message: string, url: string, sidecar_version: string, plugin_version: string, apify: null}
     */
    private function check_sidecar(): array
    {
        $health = $this->client->request('GET', '/healthz', null, array(), false);
        if (is_wp_error($health)) {
            return $this->outcome($this->status_for($health), $health->get_error_message());
        }
        $body    = is_array($health['data']) ? $health['data'] : array();
        $version = isset($body['version']) && is_string($body['version']) ? $body['version'] : '';
        if (200 !== $health['status'] || '' === $version) {
            return $this->outcome(
                'bad_response',
                sprintf(
                    /* translators: 1: URL, 2: HTTP status. */
                    __('%1$s/healthz answered HTTP %2$d without a sidecar version. Is that URL really the igbridge sidecar?', 'igbridge'),
                    $this->client->base_url(),
                    $health['status']
                )
            );
        }
        if (! self::versions_compatible($version, IGBRIDGE_VERSION)) {
            return $this->outcome(
                'version_mismatch',
                sprintf(
                    /* translators: 1: sidecar version, 2: plugin version. */
                    __('Version mismatch: the sidecar runs %1$s but this plugin is %2$s. Their major.minor versions must match; update the older one.', 'igbridge'),
                    $version,
                    IGBRIDGE_VERSION
                ),
                $version
            );
        }

        // Minting a short-lived token that nobody receives is the cheapest call that proves the secret.
        $auth = $this->client->request('POST', '/api/stream-tokens', array('sessions' => array('*'), 'ttl' => 5));
        if (is_wp_error($auth)) {
            return $this->outcome($this->status_for($auth), $auth->get_error_message(), $version);
        }
        if ($auth['status'] < 200 || $auth['status'] >= 300) {
            $detail = is_array($auth['data']) ? (string) ($auth['data']['error']['message'] ?? '') : '';
            return $this->outcome(
                'bad_response',
                trim(
                    sprintf(
                        /* translators: 1: URL, 2: HTTP status. */
                        __('The sidecar at %1$s answered HTTP %2$d when asked for a stream token.', 'igbridge'),
                        $this->client->base_url(),
                        $auth['status']
                    ) . ' ' . $detail
                ),
                $version
            );
        }

        $public_url = IGBridge_Settings::get('public_url');
        $message    = sprintf(
            /* translators: 1: sidecar URL, 2: sidecar version. */
            __('Connected: the sidecar at %1$s (version %2$s) accepts the shared secret.', 'igbridge'),
            $this->client->base_url(),
            $version
        );
        if ('' === $public_url) {
            return $this->outcome('not_configured', $message . ' ' . __('But the sidecar URL for browsers is empty, so live progress cannot be shown.', 'igbridge'), $version);
        }
        return $this->outcome('ok', $message, $version);
    }

    /**
     * True when both versions share major.minor ("0.1.3" fits "0.1.0").
     *
     * @param string $sidecar Sidecar version.
     * @param string $plugin  Plugin version.
     */
    public static function versions_compatible(string $sidecar, string $plugin): bool
    {
        $major_minor = static function (string $version): string {
            $parts = explode('.', $version);
            return ($parts[0] ?? '') . '.' . ($parts[1] ?? '');
        };
        return $major_minor($sidecar) === $major_minor($plugin);
    }

    /**
     * Maps the client's error codes to check statuses.
     *
     * @param WP_Error $error Client error.
     */
    private function status_for(WP_Error $error): string
    {
        $map = array(
            'igbridge_sidecar_unreachable'  => 'unreachable',
            'igbridge_sidecar_auth'         => 'auth',
            'igbridge_not_configured'       => 'not_configured',
            'igbridge_sidecar_bad_response' => 'bad_response',
        );
        return $map[$error->get_error_code()] ?? 'bad_response';
    }

    /**
     * One outcome record.
     *
     * @param string $status  Check status.
     * @param string $message Human message.
     * @param string $version Sidecar version, if known.
     * @return array{ok: bool, status: string, message: string, url: string, sidecar_version: string, plugin_version: string, apify: null}
     */
    private function outcome(string $status, string $message, string $version = ''): array
    {
        return array(
            'ok'              => 'ok' === $status,
            'status'          => $status,
            'message'         => $message,
            'url'             => $this->client->base_url(),
            'sidecar_version' => $version,
            'plugin_version'  => IGBRIDGE_VERSION,
            'apify'           => null,
        );
    }
}
