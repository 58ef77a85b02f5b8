<?php

/**
 * Deleted stays deleted: the source ids of imported posts their owner deleted for good.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * When an imported post is deleted for good, its row in the index
 * (IGBridge_Index) stays with `deleted_at` set, so no sync or re-import makes it
 * again: the sidecar asks `GET igbridge/v1/deleted?source_ids=…` with its lookup,
 * and a create of such a source id is refused with 409 `igbridge_source_deleted`.
 * A trashed post needs nothing of this: it is still there, in the trash, and the
 * lookup says so. `POST igbridge/v1/deleted/restore` forgets them (all, or the
 * source ids given), for people who change their minds.
 */
class IGBridge_Deleted
{
    /** Most source ids one lookup names (the sidecar sends up to 100). */
    public const MAX_IDS = 100;

    /**
     * Hooks this class into WordPress.
     */
    public static function register_hooks(): void
    {
        add_action('before_delete_post', array(self::class, 'remember'), 1);
        add_action('rest_api_init', array(self::class, 'register_routes'));
    }

    /**
     * Marks the post's source id deleted before WordPress removes the post and its meta.
     *
     * @param int $post_id Post id.
     */
    public static function remember(int $post_id): void
    {
        global $wpdb;
        $table = IGBridge_Index::table();
        // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- table name
        $wpdb->query($wpdb->prepare("UPDATE {$table} SET deleted_at = UTC_TIMESTAMP() WHERE post_id = %d AND deleted_at IS NULL", $post_id));
    }

    /**
     * Whether this source id belongs to a post deleted for good.
     *
     * @param string $source_id Source id.
     */
    public static function is_deleted(string $source_id): bool
    {
        return array() !== self::deleted_among(array($source_id));
    }

    /**
     * The source ids among these whose posts were deleted for good.
     *
     * @param list<string> $source_ids Source ids.
     * @return array<string, string> Source id => when it was deleted (UTC, MySQL format).
     */
    public static function deleted_among(array $source_ids): array
    {
        global $wpdb;
        if (array() === $source_ids) {
            return array();
        }
        $table        = IGBridge_Index::table();
        $placeholders = implode(',', array_fill(0, count($source_ids), '%s'));
        // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- placeholders built above
        $sql = "SELECT source_id, deleted_at FROM {$table} WHERE source_id IN ({$placeholders}) AND deleted_at IS NOT NULL";
        // phpcs:ignore WordPress.DB.PreparedSQL.NotPrepared -- prepared here
        $rows  = $wpdb->get_results($wpdb->prepare($sql, $source_ids), ARRAY_A);
        $found = array();
        foreach ((array) $rows as $row) {
            $found[(string) $row['source_id']] = (string) $row['deleted_at'];
        }
        return $found;
    }

    /**
     * The 409 answer to a create of a deleted post's source id.
     *
     * @param string $source_id Source id.
     */
    public static function deleted_error(string $source_id): WP_Error
    {
        return new WP_Error(
            'igbridge_source_deleted',
            sprintf(
                /* translators: %s: Instagram source id */
                __('The post imported from %s was deleted in WordPress; restore deleted posts to import it again.', 'igbridge'),
                $source_id
            ),
            array(
                'status'      => 409,
                'post_id'     => 0,
                'post_status' => 'deleted',
            )
        );
    }

    /**
     * Registers the lookup (for the importer's user) and the restore (for managers).
     */
    public static function register_routes(): void
    {
        register_rest_route(
            IGBridge_REST_Controller::NAMESPACE,
            '/deleted',
            array(
                'methods'             => WP_REST_Server::READABLE,
                'callback'            => array(self::class, 'lookup'),
                'permission_callback' => static function (): bool {
                    return current_user_can('edit_posts');
                },
                'args'                => array(
                    'source_ids' => array(
                        'type'              => 'array',
                        'required'          => true,
                        'items'             => array(
                            'type'      => 'string',
                            'minLength' => 1,
                            'maxLength' => IGBridge_Index::MAX_SOURCE_ID,
                        ),
                        'maxItems'          => self::MAX_IDS,
                        'validate_callback' => 'rest_validate_request_arg',
                    ),
                ),
            )
        );
        register_rest_route(
            IGBridge_REST_Controller::NAMESPACE,
            '/deleted/restore',
            array(
                'methods'             => WP_REST_Server::CREATABLE,
                'callback'            => array(self::class, 'restore'),
                'permission_callback' => static function (): bool {
                    return current_user_can(IGBridge_REST_Controller::capability());
                },
                'args'                => array(
                    'source_ids' => array(
                        'type'              => 'array',
                        'items'             => array(
                            'type'      => 'string',
                            'minLength' => 1,
                            'maxLength' => IGBridge_Index::MAX_SOURCE_ID,
                        ),
                        'maxItems'          => 1000,
                        'validate_callback' => 'rest_validate_request_arg',
                    ),
                ),
            )
        );
    }

    /**
     * GET /deleted: which of the given source ids were deleted for good, and when.
     *
     * @param WP_REST_Request $request Request.
     */
    public static function lookup(WP_REST_Request $request): WP_REST_Response
    {
        $ids      = array_values(array_map('strval', (array) $request->get_param('source_ids')));
        $response = new WP_REST_Response(array('deleted' => (object) self::deleted_among($ids)), 200);
        $response->header('Cache-Control', 'no-store');
        return $response;
    }

    /**
     * POST /deleted/restore: forget deleted posts (all, or the source ids given), so
     * the next sync or import makes them again.
     *
     * @param WP_REST_Request $request Request.
     */
    public static function restore(WP_REST_Request $request): WP_REST_Response
    {
        global $wpdb;
        $table = IGBridge_Index::table();
        $ids   = $request->get_param('source_ids');
        if (is_array($ids) && array() !== $ids) {
            $ids          = array_values(array_map('strval', $ids));
            $placeholders = implode(',', array_fill(0, count($ids), '%s'));
            // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- placeholders built above
            $forgotten = $wpdb->query($wpdb->prepare("DELETE FROM {$table} WHERE deleted_at IS NOT NULL AND source_id IN ({$placeholders})", $ids));
        } else {
            // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- table name
            $forgotten = $wpdb->query("DELETE FROM {$table} WHERE deleted_at IS NOT NULL");
        }
        return new WP_REST_Response(array('restored' => (int) $forgotten), 200);
    }
}
