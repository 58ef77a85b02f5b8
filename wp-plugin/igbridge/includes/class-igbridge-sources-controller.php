<?php

/**
 * The igbridge/v1/sources REST routes the Sources screen calls (issue 14).
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Saved sources live in the sidecar; these routes check the capability (and, for
 * cookie requests, WordPress checks the wp_rest nonce before any of this runs), keep
 * only the keys a saved source has, and proxy to the sidecar server to server. The
 * sidecar validates the values and answers 422 naming a bad field; that answer is
 * passed on as it is.
 */
class IGBridge_Sources_Controller
{
    private const ID_PATTERN = '(?P<id>[a-f0-9]{32})';

    /** The keys of a saved source the sidecar accepts (it checks their values). */
    private const KEYS = array('type', 'username', 'limit', 'name', 'path', 'mapping', 'schedule', 'paused');

    /**
     * Hooks this class into WordPress.
     */
    public static function register_hooks(): void
    {
        add_action('rest_api_init', array(new self(), 'register_routes'));
    }

    /**
     * Registers the routes.
     */
    public function register_routes(): void
    {
        $permission = static function (): bool {
            return current_user_can(IGBridge_REST_Controller::capability());
        };
        register_rest_route(
            IGBridge_REST_Controller::NAMESPACE,
            '/sources',
            array(
                array(
                    'methods'             => WP_REST_Server::READABLE,
                    'callback'            => array($this, 'list_sources'),
                    'permission_callback' => $permission,
                ),
                array(
                    'methods'             => WP_REST_Server::CREATABLE,
                    'callback'            => array($this, 'create_source'),
                    'permission_callback' => $permission,
                ),
            )
        );
        register_rest_route(
            IGBridge_REST_Controller::NAMESPACE,
            '/sources/' . self::ID_PATTERN,
            array(
                array(
                    'methods'             => WP_REST_Server::READABLE,
                    'callback'            => array($this, 'get_source'),
                    'permission_callback' => $permission,
                ),
                array(
                    'methods'             => 'PATCH',
                    'callback'            => array($this, 'update_source'),
                    'permission_callback' => $permission,
                ),
                array(
                    'methods'             => WP_REST_Server::DELETABLE,
                    'callback'            => array($this, 'delete_source'),
                    'permission_callback' => $permission,
                ),
            )
        );
        register_rest_route(
            IGBridge_REST_Controller::NAMESPACE,
            '/sources/' . self::ID_PATTERN . '/sync',
            array(
                'methods'             => WP_REST_Server::CREATABLE,
                'callback'            => array($this, 'sync_source'),
                'permission_callback' => $permission,
            )
        );
        register_rest_route(
            IGBridge_REST_Controller::NAMESPACE,
            '/sources/' . self::ID_PATTERN . '/preview',
            array(
                'methods'             => WP_REST_Server::CREATABLE,
                'callback'            => array($this, 'preview_source'),
                'permission_callback' => $permission,
            )
        );
        register_rest_route(
            IGBridge_REST_Controller::NAMESPACE,
            '/sources/' . self::ID_PATTERN . '/repair',
            array(
                'methods'             => WP_REST_Server::CREATABLE,
                'callback'            => array($this, 'repair_source'),
                'permission_callback' => $permission,
            )
        );
        register_rest_route(
            IGBridge_REST_Controller::NAMESPACE,
            '/sources/preview-mapping',
            array(
                'methods'             => WP_REST_Server::CREATABLE,
                'callback'            => array($this, 'preview_mapping'),
                'permission_callback' => $permission,
            )
        );
    }

    /**
     * POST /sources/{id}/repair: a repair job over the source's imported posts.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public function repair_source(WP_REST_Request $request)
    {
        return $this->proxy('POST', '/api/sources/' . $request['id'] . '/repair');
    }

    /**
     * POST /sources/preview-mapping: one post with the form's mapping applied, rendered
     * by the sidecar with the import's own code (nothing is saved).
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public function preview_mapping(WP_REST_Request $request)
    {
        $json = $request->get_json_params();
        if (! is_array($json) || ! is_array($json['mapping'] ?? array())) {
            return new WP_Error('igbridge_source_body', __('The request body must be a JSON object with a mapping object.', 'igbridge'), array('status' => 400));
        }
        $body = array('mapping' => (object) ($json['mapping'] ?? array()));
        $source_id = isset($json['source_id']) && is_string($json['source_id']) ? $json['source_id'] : '';
        if ('' !== $source_id) {
            if (1 !== preg_match('/^[a-f0-9]{32}$/', $source_id)) {
                return new WP_Error('igbridge_source_id', __('source_id is not a saved source id.', 'igbridge'), array('status' => 400));
            }
            $body['source_id'] = $source_id;
        }
        return $this->proxy('POST', '/api/sources/preview-mapping', $body);
    }

    /**
     * GET /sources.
     *
     * @return WP_REST_Response|WP_Error
     */
    public function list_sources()
    {
        return $this->proxy('GET', '/api/sources');
    }

    /**
     * POST /sources.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public function create_source(WP_REST_Request $request)
    {
        $body = $this->body($request);
        if (is_wp_error($body)) {
            return $body;
        }
        return $this->proxy('POST', '/api/sources', $body);
    }

    /**
     * GET /sources/{id}.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public function get_source(WP_REST_Request $request)
    {
        return $this->proxy('GET', '/api/sources/' . $request['id']);
    }

    /**
     * PATCH /sources/{id}: the keys given replace the saved ones (the mapping merges).
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public function update_source(WP_REST_Request $request)
    {
        $body = $this->body($request);
        if (is_wp_error($body)) {
            return $body;
        }
        unset($body['type'], $body['path']);
        return $this->proxy('PATCH', '/api/sources/' . $request['id'], $body);
    }

    /**
     * DELETE /sources/{id}.
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public function delete_source(WP_REST_Request $request)
    {
        return $this->proxy('DELETE', '/api/sources/' . $request['id']);
    }

    /**
     * POST /sources/{id}/sync: sync now (a sync already running is the answer, 200).
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public function sync_source(WP_REST_Request $request)
    {
        return $this->proxy('POST', '/api/sources/' . $request['id'] . '/sync');
    }

    /**
     * POST /sources/{id}/preview: a preview job of the source (writes nothing to WordPress).
     *
     * @param WP_REST_Request $request Request.
     * @return WP_REST_Response|WP_Error
     */
    public function preview_source(WP_REST_Request $request)
    {
        return $this->proxy('POST', '/api/sources/' . $request['id'] . '/preview');
    }

    /**
     * The request's JSON object with only a saved source's keys; an export's path must
     * be an upload of this site.
     *
     * @param WP_REST_Request $request Request.
     * @return array<string, mixed>|WP_Error
     */
    private function body(WP_REST_Request $request)
    {
        $json = $request->get_json_params();
        if (! is_array($json)) {
            return new WP_Error('igbridge_source_body', __('The request body must be a JSON object.', 'igbridge'), array('status' => 400));
        }
        $body = array_intersect_key($json, array_flip(self::KEYS));
        if (isset($body['username']) && is_string($body['username'])) {
            $body['username'] = strtolower(ltrim(sanitize_text_field($body['username']), '@'));
        }
        if (isset($body['name']) && is_string($body['name'])) {
            $body['name'] = sanitize_text_field($body['name']);
        }
        if (isset($body['path'])) {
            $path = method_exists('IGBridge_Zip_Upload', 'verified_path')
                ? IGBridge_Zip_Upload::verified_path((string) $body['path'])
                : new WP_Error('igbridge_source_path', __('Export sources are not available here.', 'igbridge'), array('status' => 400));
            if (is_wp_error($path)) {
                return $path;
            }
            $body['path'] = $path;
        }
        return $body;
    }

    /**
     * Sends one call to the sidecar and passes its answer on (status included).
     *
     * @param string                    $method HTTP method.
     * @param string                    $path   Sidecar path.
     * @param array<string, mixed>|null $body   JSON body.
     * @return WP_REST_Response|WP_Error
     */
    private function proxy(string $method, string $path, ?array $body = null)
    {
        $result = IGBridge_Sidecar_Client::from_settings()->request($method, $path, $body);
        if (is_wp_error($result)) {
            return $result;
        }
        $response = new WP_REST_Response($result['body'], $result['status']);
        $response->header('Cache-Control', 'no-store');
        return $response;
    }
}
