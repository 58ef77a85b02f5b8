<?php

/**
 * The importer's own attachments, and which posts use an attachment.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * The import tags every attachment it uploads with `_igbridge_media_of` (the source id
 * of the post it was uploaded for). Repair, once it has put a new copy of a broken
 * attachment (its file gone) in the post, deletes the broken one, but only an
 * attachment of igbridge's own that no post uses: `GET igbridge/v1/media/{id}/users`
 * names every post (any type, any status, the trash too) whose content names the
 * attachment (an image's `wp-image-N` class, a block's `"id":N`) or that features it,
 * and the other attachments whose file is the same one (WordPress, uploading a file
 * whose predecessor's file is gone, may give it that very name): deleting an
 * attachment deletes its file, whoever else it belongs to.
 */
class IGBridge_Media_Users
{
    public const MEDIA_OF_KEY = '_igbridge_media_of';
    /** Most posts one answer names: one is enough to keep the attachment. */
    public const MAX_USERS = 100;

    /**
     * Hooks this class into WordPress.
     */
    public static function register_hooks(): void
    {
        add_action('init', array(self::class, 'register_meta'));
        add_action('rest_api_init', array(self::class, 'register_routes'));
    }

    /**
     * Registers the tag as protected, REST-visible, single string meta of attachments.
     */
    public static function register_meta(): void
    {
        register_post_meta(
            'attachment',
            self::MEDIA_OF_KEY,
            array(
                'type'              => 'string',
                'description'       => __('Instagram id of the post igbridge uploaded this file for.', 'igbridge'),
                'single'            => true,
                'show_in_rest'      => true,
                'sanitize_callback' => 'sanitize_text_field',
                // Keys starting with "_" are protected: without this callback REST writes get 403.
                'auth_callback'     => static function (): bool {
                    return current_user_can('edit_posts');
                },
            )
        );
    }

    /**
     * Registers the lookup, for the importer's user.
     */
    public static function register_routes(): void
    {
        register_rest_route(
            IGBridge_REST_Controller::NAMESPACE,
            '/media/(?P<id>\d+)/users',
            array(
                'methods'             => WP_REST_Server::READABLE,
                'callback'            => array(self::class, 'users'),
                'permission_callback' => static function (): bool {
                    return current_user_can('edit_posts');
                },
                'args'                => array(
                    'id' => array(
                        'type'     => 'integer',
                        'minimum'  => 1,
                        'required' => true,
                    ),
                ),
            )
        );
    }

    /**
     * GET /media/{id}/users: the ids of the posts that name or feature the attachment
     * (revisions aside: they are a post's past, not a use), and of the attachments that
     * share its file.
     *
     * @param WP_REST_Request $request Request.
     */
    public static function users(WP_REST_Request $request): WP_REST_Response
    {
        global $wpdb;
        $id = (int) $request->get_param('id');
        // LIKE finds the candidates cheaply; REGEXP drops wp-image-12 matching wp-image-123.
        $class   = '%' . $wpdb->esc_like("wp-image-{$id}") . '%';
        $attr    = '%' . $wpdb->esc_like("\"id\":{$id}") . '%';
        $exact   = "(wp-image-|\"id\":){$id}([^0-9]|$)";
        $in_text = $wpdb->get_col(
            $wpdb->prepare(
                "SELECT ID FROM {$wpdb->posts} WHERE post_type NOT IN ('revision', 'attachment')"
                . ' AND (post_content LIKE %s OR post_content LIKE %s) AND post_content REGEXP %s ORDER BY ID LIMIT %d',
                $class,
                $attr,
                $exact,
                self::MAX_USERS
            )
        );
        $featuring = $wpdb->get_col(
            $wpdb->prepare(
                "SELECT post_id FROM {$wpdb->postmeta} WHERE meta_key = '_thumbnail_id' AND meta_value = %s ORDER BY post_id LIMIT %d",
                (string) $id,
                self::MAX_USERS
            )
        );
        $ids = array_values(array_unique(array_map('intval', array_merge((array) $in_text, (array) $featuring))));
        sort($ids);
        $file    = (string) get_post_meta($id, '_wp_attached_file', true);
        $sharing = '' === $file ? array() : $wpdb->get_col(
            $wpdb->prepare(
                "SELECT post_id FROM {$wpdb->postmeta} WHERE meta_key = '_wp_attached_file' AND meta_value = %s AND post_id <> %d ORDER BY post_id LIMIT %d",
                $file,
                $id,
                self::MAX_USERS
            )
        );
        $response = new WP_REST_Response(
            array(
                'post_ids'      => $ids,
                'same_file_ids' => array_values(array_map('intval', (array) $sharing)),
            ),
            200
        );
        $response->header('Cache-Control', 'no-store');
        return $response;
    }
}
