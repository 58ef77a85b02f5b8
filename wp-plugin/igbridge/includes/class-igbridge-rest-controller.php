<?php

/**
 * The igbridge/v1 REST routes the admin screen calls.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Every route checks the capability, validates its arguments, then proxies to
 * the sidecar server to server. The browser never sees the shared secret: it
 * gets the sidecar's JSON and status, or a WP_Error saying what went wrong.
 */
class IGBridge_REST_Controller
{
    public const NAMESPACE = 'igbridge/v1';

    public const STREAM_TOKEN_TTL = 300;

    private const JOB_ID_PATTERN = '(?P<id>[\w-]+)';

    /**
     * Hooks this class into WordPress.
     */
    public static function register_hooks(): void
    {
        add_action('rest_api_init', array(new self(), 'register_routes'));
    }

    /**
     * The capability every route needs (filterable through `igbridge_capability`).
     */
    public static function capability(): string
    {
        return (string) apply_filters('igbridge_capability', 'manage_options');
    }

    /**
     * Permission callback shared by all routes. Cookie requests without a valid
     * X-WP-Nonce reach this as the anonymous user, so they fail here too.
     */
    public function can_manage(): bool
    {
        return current_user_can(self::capability());
    }

    /**
     * Registers the routes.
     */
    public function register_routes(): void
    {
        $permission = array($this, 'can_manage');
        $job_id     = array(
            'id' => array(
                'type'              => 'string',
                'required'          => true,
                'pattern'           => '^[\w-]{1,64}$',
                'validate_callback' => 'rest_validate_request_arg',
            ),
        );

        register_rest_route(
            self::NAMESPACE,
            '/jobs',
            array(
                array(
                    'methods'             => WP_REST_Server::READABLE,
                    'callback'            => array($this, 'list_jobs'),
                    'permission_callback' => $permission,
                    'args'                => array(
                        'limit'  => array(
                            'type'              => 'integer',
                            'minimum'           => 1,
                            'maximum'           => 200,
                            'sanitize_callback' => 'absint',
                            'validate_callback' => 'rest_validate_request_arg',
                        ),
                        'status' => array(
                            'type'              => 'string',
                            'enum'              => array('queued', 'running', 'complete', 'error', 'cancelled'),
                            'validate_callback' => 'rest_validate_request_arg',
                        ),
                        'cursor' => self::cursor_arg(),
                    ),
                ),
                array(
                    'methods'             => WP_REST_Server::CREATABLE,
                    'callback'            => array($this, 'start_job'),
                    'permission_callback' => $permission,
                    'args'                => $this->start_job_args(),
                ),
            )
        );
        register_rest_route(
            self::NAMESPACE,
            '/jobs/' . self::JOB_ID_PATTERN,
            array(
                'methods'             => WP_REST_Server::READABLE,
                'callback'            => array($this, 'get_job'),
                'permission_callback' => $permission,
                'args'                => $job_id,
            )
        );
        register_rest_route(
            self::NAMESPACE,
            '/jobs/' . self::JOB_ID_PATTERN . '/items',
            array(
                'methods'             => WP_REST_Server::READABLE,
                'callback'            => array($this, 'list_items'),
                'permission_callback' => $permission,
                'args'                => $job_id + array(
                    'limit'  => array(
                        'type'              => 'integer',
                        'minimum'           => 1,
                        'maximum'           => 500,
                        'sanitize_callback' => 'absint',
                        'validate_callback' => 'rest_validate_request_arg',
                    ),
                    'cursor' => self::cursor_arg(),
                ),
            )
        );
        foreach (array('cancel' => 'cancel_job', 'retry' => 'retry_job') as $action => $callback) {
            register_rest_route(
                self::NAMESPACE,
                '/jobs/' . self::JOB_ID_PATTERN . '/' . $action,
                array(
                    'methods'             => WP_REST_Server::CREATABLE,
                    'callback'            => array($this, $callback),
                    'permission_callback' => $permission,
                    'args'                => $job_id,
                )
            );
        }
        register_rest_route(
            self::NAMESPACE,
            '/commands',
            array(
                'methods'             => WP_REST_Server::CREATABLE,
                'callback'            => array($this, 'run_command'),
                'permission_callback' => $permission,
                'args'                => array(
                    'text' => array(
                        'type'              => 'string',
                        'required'          => true,
                        'minLength'         => 1,
                        'maxLength'         => 500,
                        'sanitize_callback' => 'sanitize_text_field',
                        'validate_callback' => 'rest_validate_request_arg',
                    ),
                ),
            )
        );
        register_rest_route(
            self::NAMESPACE,
            '/stream-token',
            array(
                'methods'             => WP_REST_Server::CREATABLE,
                'callback'            => array($this, 'mint_stream_token'),
                'permission_callback' => $permission,
            )
        );
        register_rest_route(
            self::NAMESPACE,
            '/test-connection',
            array(
                'methods'             => WP_REST_Server::READABLE,
                'callback'            => array($this, 'test_connection'),
                'permission_callback' => $permission,
            )
        );
    }

    /**
     * The `cursor` argument of the paged lists: the sidecar's opaque next_cursor, passed on as it is.
     *
     * @return array<string, mixed>
     */
    private static function cursor_arg(): array
    {
        return array(
            'type'              => 'string',
            'maxLength'         => 200,
            'pattern'           => '^[A-Za-z0-9_.~:=+/-]+$',
            'validate_callback' => 'rest_validate_request_arg',
        );
    }

    /**
     * The given query arguments of a request that are set.
     *
     * @param WP_REST_Request $request Request.
     * @param string[]        $names   Argument names.
     * @return array<string, mixed>
     */
    private static function query_of(WP_REST_Request $request, array $names): array
    {
        $query = array();
        foreach ($names as $name) {
            $value = $request->get_param($name);
            if (null !== $value && '' !== $value) {
                $query[$name] = $value;
            }
        }
        return $query;
    }

    /**
     * GET /jobs: a page of the sidecar's jobs, newest first, without their items.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public function list_jobs(WP_REST_Request $request)
    {
        return $this->proxy('GET', '/api/jobs', null, self::query_of($request, array('limit', 'status', 'cursor')));
    }

    /**
     * GET /jobs/{id}/items: a page of one job's items.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public function list_items(WP_REST_Request $request)
    {
        $path = '/api/jobs/' . rawurlencode((string) $request->get_param('id')) . '/items';
        return $this->proxy('GET', $path, null, self::query_of($request, array('limit', 'cursor')));
    }

    /**
     * POST /jobs: starts a scrape, import or cache_images job.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public function start_job(WP_REST_Request $request)
    {
        $source = $this->clean_source($request->get_param('source'));
        if (is_wp_error($source)) {
            return $source;
        }
        $options = $request->get_param('options');
        $body    = array(
            'kind'    => (string) $request->get_param('kind'),
            'source'  => $source,
            'options' => (object) (is_array($options) ? $options : array()),
        );
        return $this->proxy('POST', '/api/jobs', $body);
    }

    /**
     * GET /jobs/{id}.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public function get_job(WP_REST_Request $request)
    {
        return $this->proxy('GET', '/api/jobs/' . rawurlencode((string) $request->get_param('id')));
    }

    /**
     * POST /jobs/{id}/cancel: stops a running job, keeping what was imported.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public function cancel_job(WP_REST_Request $request)
    {
        return $this->proxy('POST', '/api/jobs/' . rawurlencode((string) $request->get_param('id')) . '/cancel', array());
    }

    /**
     * POST /jobs/{id}/retry: re-runs only the failed items.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public function retry_job(WP_REST_Request $request)
    {
        return $this->proxy('POST', '/api/jobs/' . rawurlencode((string) $request->get_param('id')) . '/retry', array());
    }

    /**
     * POST /commands: a chat-style command; the sidecar's 422 hint passes through.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public function run_command(WP_REST_Request $request)
    {
        return $this->proxy('POST', '/api/commands', array('text' => (string) $request->get_param('text')));
    }

    /**
     * POST /stream-token: a short-lived token for the browser's EventSource.
     *
     * @return WP_REST_Response|WP_Error
     */
    public function mint_stream_token()
    {
        $ttl = (int) apply_filters('igbridge_stream_token_ttl', self::STREAM_TOKEN_TTL);
        // Everyone who passes can_manage() may watch every job, so the scope is "*".
        $response = $this->proxy('POST', '/api/stream-tokens', array('sessions' => array('*'), 'ttl' => max(30, $ttl)));
        if ($response instanceof WP_REST_Response) {
            $response->header('Cache-Control', 'no-store');
        }
        return $response;
    }

    /**
     * GET /test-connection: what is wrong with the sidecar connection, if anything.
     *
     * @return WP_REST_Response
     */
    public function test_connection(): WP_REST_Response
    {
        $check = new IGBridge_Connection_Check(IGBridge_Sidecar_Client::from_settings());
        return new WP_REST_Response($check->run(), 200);
    }

    /**
     * Argument schema of POST /jobs.
     *
     * @return array<string, array<string, mixed>>
     */
    private function start_job_args(): array
    {
        return array(
            'kind'    => array(
                'type'              => 'string',
                'required'          => true,
                'enum'              => array('scrape', 'import', 'cache_images', 'preview'),
                'validate_callback' => 'rest_validate_request_arg',
            ),
            'source'  => array(
                'type'              => 'object',
                'required'          => true,
                'validate_callback' => 'rest_validate_request_arg',
                'properties'        => array(
                    'type'     => array(
                        'type'     => 'string',
                        'enum'     => array('apify', 'export', 'preview'),
                        'required' => true,
                    ),
                    'job_id'   => array(
                        'type'    => 'string',
                        'pattern' => '^[\\w-]{1,64}$',
                    ),
                    'select'   => array(
                        'type'     => 'array',
                        'minItems' => 1,
                        'maxItems' => 10000,
                        'items'    => array(
                            'type'      => 'string',
                            'minLength' => 1,
                            'maxLength' => 200,
                        ),
                    ),
                    'username' => array(
                        'type'    => 'string',
                        'pattern' => '^@?[A-Za-z0-9._]{1,30}$',
                    ),
                    'limit'    => array(
                        'type'    => 'integer',
                        'minimum' => 1,
                        'maximum' => IGBridge_Settings::MAX_APIFY_LIMIT,
                    ),
                    'upload_ids' => array(
                        'type'     => 'array',
                        'minItems' => 1,
                        'maxItems' => IGBridge_Upload_Routes::MAX_FILES,
                        'items'    => array(
                            'type'    => 'string',
                            'pattern' => '^[\\w-]{16,64}$',
                        ),
                    ),
                ),
            ),
            'options' => array(
                'type'                 => 'object',
                'default'              => array(),
                'additionalProperties' => array('type' => array('string', 'integer', 'number', 'boolean')),
                'validate_callback'    => 'rest_validate_request_arg',
            ),
        );
    }

    /**
     * The source as the sidecar wants it, with each type's own rules applied.
     *
     * @param mixed $source Validated source object.
     * @return array<string, mixed>|WP_Error
     */
    private function clean_source($source)
    {
        $source = is_array($source) ? $source : array();
        if ('apify' === ($source['type'] ?? '')) {
            $username = ltrim((string) ($source['username'] ?? ''), '@');
            if ('' === $username) {
                return new WP_Error(
                    'igbridge_source_username',
                    __('An Apify source needs the Instagram username (letters, digits, "." and "_", up to 30).', 'igbridge'),
                    array('status' => 400)
                );
            }
            $limit = isset($source['limit']) ? absint($source['limit']) : (int) IGBridge_Settings::get('apify_limit');
            return array(
                'type'     => 'apify',
                'username' => strtolower($username),
                'limit'    => max(1, $limit),
            );
        }
        // Posts picked from a preview: the sidecar imports them from what the preview fetched.
        if ('preview' === ($source['type'] ?? '')) {
            return array(
                'type'   => 'preview',
                'job_id' => (string) ($source['job_id'] ?? ''),
                'select' => array_values(array_map('strval', (array) ($source['select'] ?? array()))),
            );
        }
        // Exports reach the sidecar as uploads it holds itself; no path on this server is ever named.
        $upload_ids = isset($source['upload_ids']) && is_array($source['upload_ids']) ? array_values(array_unique(array_map('strval', $source['upload_ids']))) : array();
        if (array() === $upload_ids) {
            return new WP_Error(
                'igbridge_source_uploads',
                __('An export source names the uploaded parts of the export (upload_ids); upload the ZIP first.', 'igbridge'),
                array('status' => 400)
            );
        }
        return array(
            'type'       => 'export',
            'upload_ids' => $upload_ids,
        );
    }

    /**
     * Sends one call to the sidecar and turns the outcome into a REST answer.
     *
     * @param string                    $method HTTP method.
     * @param string                    $path   Sidecar path.
     * @param array<string, mixed>|null $body   JSON body.
     * @param array<string, mixed>      $query  Query arguments.
     * @return WP_REST_Response|WP_Error
     */
    private function proxy(string $method, string $path, ?array $body = null, array $query = array())
    {
        $result = IGBridge_Sidecar_Client::from_settings()->request($method, $path, $body, $query);
        if (is_wp_error($result)) {
            return $result;
        }
        $response = new WP_REST_Response($result['body'], $result['status']);
        $response->header('Cache-Control', 'no-store');
        return $response;
    }
}
