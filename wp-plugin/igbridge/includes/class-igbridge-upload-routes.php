<?php

/**
 * igbridge/v1/uploads: chunked, resumable uploads of export ZIPs, kept by the sidecar.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * The browser sends an export in chunks of a few MB (below any PHP request limit);
 * each chunk is passed on, server to server, to the sidecar, which stores it in its
 * data dir under a name nobody is shown and answers the offset it has. Nothing of an
 * upload is ever written under the web root. Same permission rule as every route.
 */
class IGBridge_Upload_Routes
{
    /** Chunks are at most this big, and smaller where PHP's limits ask for it. */
    public const MAX_CHUNK_BYTES = 8 * MB_IN_BYTES;

    public const MIN_CHUNK_BYTES = 256 * KB_IN_BYTES;

    /** A split export has a handful of parts; more than this is not one export. */
    public const MAX_FILES = 50;

    private const ID_PATTERN = '(?P<id>[\w-]+)';

    /**
     * Hooks this class into WordPress.
     */
    public static function register_hooks(): void
    {
        add_action('rest_api_init', array(self::class, 'register_routes'));
    }

    /**
     * Registers the routes.
     */
    public static function register_routes(): void
    {
        $permission = array(self::class, 'can_manage');
        $upload_id  = array(
            'id' => array(
                'type'              => 'string',
                'required'          => true,
                'pattern'           => '^[\w-]{1,64}$',
                'validate_callback' => 'rest_validate_request_arg',
            ),
        );
        register_rest_route(
            IGBridge_REST_Controller::NAMESPACE,
            '/uploads',
            array(
                array(
                    'methods'             => WP_REST_Server::READABLE,
                    'callback'            => array(self::class, 'list_uploads'),
                    'permission_callback' => $permission,
                ),
                array(
                    'methods'             => WP_REST_Server::CREATABLE,
                    'callback'            => array(self::class, 'create_upload'),
                    'permission_callback' => $permission,
                    'args'                => array(
                        'name'          => array(
                            'type'              => 'string',
                            'required'          => true,
                            'minLength'         => 1,
                            'maxLength'         => 255,
                            'validate_callback' => 'rest_validate_request_arg',
                        ),
                        'size'          => array(
                            'type'              => 'integer',
                            'required'          => true,
                            'minimum'           => 1,
                            'validate_callback' => 'rest_validate_request_arg',
                        ),
                        'last_modified' => array(
                            'type'              => 'integer',
                            'minimum'           => 0,
                            'default'           => 0,
                            'validate_callback' => 'rest_validate_request_arg',
                        ),
                    ),
                ),
            )
        );
        register_rest_route(
            IGBridge_REST_Controller::NAMESPACE,
            '/uploads/' . self::ID_PATTERN,
            array(
                array(
                    'methods'             => WP_REST_Server::READABLE,
                    'callback'            => array(self::class, 'get_upload'),
                    'permission_callback' => $permission,
                    'args'                => $upload_id,
                ),
                // POST, not PATCH: some hosts' firewalls drop PATCH from browsers.
                array(
                    'methods'             => WP_REST_Server::CREATABLE,
                    'callback'            => array(self::class, 'append_chunk'),
                    'permission_callback' => $permission,
                    'args'                => $upload_id,
                ),
                array(
                    'methods'             => WP_REST_Server::DELETABLE,
                    'callback'            => array(self::class, 'delete_upload'),
                    'permission_callback' => $permission,
                    'args'                => $upload_id,
                ),
            )
        );
    }

    /**
     * Permission callback: the plugin's capability (cookie requests need the wp_rest nonce).
     */
    public static function can_manage(): bool
    {
        return current_user_can(IGBridge_REST_Controller::capability());
    }

    /**
     * The largest chunk this WordPress takes in one request: well below post_max_size,
     * and small enough that the few copies PHP holds of it fit in memory.
     */
    public static function chunk_bytes(): int
    {
        $limits = array(self::MAX_CHUNK_BYTES);
        $post   = wp_convert_hr_to_bytes((string) ini_get('post_max_size'));
        if ($post > 0) {
            $limits[] = intdiv($post, 2);
        }
        $memory = wp_convert_hr_to_bytes((string) (defined('WP_MAX_MEMORY_LIMIT') ? WP_MAX_MEMORY_LIMIT : ini_get('memory_limit')));
        if ($memory > 0) {
            // WordPress itself needs some 32 MB; the chunk is held about four times (input, request, outgoing body).
            $limits[] = intdiv(max(0, $memory - 32 * MB_IN_BYTES), 4);
        }
        $bytes = (int) min($limits);
        // Smaller chunks, never larger: a slow or flaky link resends less after a drop.
        $bytes = min($bytes, (int) apply_filters('igbridge_upload_chunk_bytes', $bytes));
        return max(self::MIN_CHUNK_BYTES, $bytes - $bytes % (64 * KB_IN_BYTES));
    }

    /**
     * GET /uploads: the sidecar's limits and the uploads it holds.
     *
     * @return WP_REST_Response|WP_Error
     */
    public static function list_uploads()
    {
        return self::proxy(IGBridge_Sidecar_Client::from_settings()->request('GET', '/api/uploads'));
    }

    /**
     * POST /uploads {name, size, last_modified}: starts an upload of one file.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public static function create_upload(WP_REST_Request $request)
    {
        $name = sanitize_file_name(wp_basename((string) $request->get_param('name')));
        if ('zip' !== strtolower(pathinfo($name, PATHINFO_EXTENSION))) {
            return new WP_Error(
                'igbridge_upload_not_zip',
                /* translators: %s: file name. */
                sprintf(__('%s is not a .zip file. Upload the ZIP from Instagram\'s "Download your information" (JSON format).', 'igbridge'), $name),
                array('status' => 400)
            );
        }
        $body = array(
            'name'          => $name,
            'size'          => (int) $request->get_param('size'),
            'last_modified' => (int) $request->get_param('last_modified'),
        );
        return self::proxy(IGBridge_Sidecar_Client::from_settings()->request('POST', '/api/uploads', $body));
    }

    /**
     * GET /uploads/{id}: how much of it the sidecar has.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public static function get_upload(WP_REST_Request $request)
    {
        return self::proxy(IGBridge_Sidecar_Client::from_settings()->request('GET', self::path($request)));
    }

    /**
     * POST /uploads/{id}: one chunk as the raw body, at the byte named by the Upload-Offset header.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public static function append_chunk(WP_REST_Request $request)
    {
        $offset = (string) $request->get_header('upload_offset');
        if (! preg_match('/^\d{1,19}$/', $offset)) {
            return new WP_Error(
                'igbridge_upload_offset',
                __('A chunk needs an Upload-Offset header: the byte of the file where it starts.', 'igbridge'),
                array('status' => 400)
            );
        }
        $bytes = $request->get_body();
        if ('' === $bytes) {
            return new WP_Error('igbridge_upload_empty', __('The chunk is empty: send its bytes as the request body.', 'igbridge'), array('status' => 400));
        }
        if (strlen($bytes) > self::chunk_bytes()) {
            return new WP_Error(
                'igbridge_upload_chunk_too_large',
                /* translators: %d: the largest chunk in bytes. */
                sprintf(__('A chunk may be at most %d bytes here.', 'igbridge'), self::chunk_bytes()),
                array('status' => 413)
            );
        }
        $headers  = array('Upload-Offset' => $offset);
        $checksum = (string) $request->get_header('upload_checksum');
        if ('' !== $checksum) {
            $headers['Upload-Checksum'] = $checksum;
        }
        $result = IGBridge_Sidecar_Client::from_settings()->send_bytes('PATCH', self::path($request), $bytes, $headers);
        return self::proxy($result);
    }

    /**
     * DELETE /uploads/{id}: drops an upload and its bytes.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public static function delete_upload(WP_REST_Request $request)
    {
        return self::proxy(IGBridge_Sidecar_Client::from_settings()->request('DELETE', self::path($request)));
    }

    /**
     * The sidecar path of the upload a request names.
     *
     * @param WP_REST_Request $request Request.
     */
    private static function path(WP_REST_Request $request): string
    {
        return '/api/uploads/' . rawurlencode((string) $request->get_param('id'));
    }

    /**
     * The sidecar's answer as a REST answer, never cached.
     *
     * @param array{status: int, body: mixed, data: mixed}|WP_Error $result Client result.
     * @return WP_REST_Response|WP_Error
     */
    private static function proxy($result)
    {
        if (is_wp_error($result)) {
            return $result;
        }
        $response = new WP_REST_Response($result['body'], $result['status']);
        $response->header('Cache-Control', 'no-store');
        return $response;
    }
}
