<?php

/**
 * Post meta the importer writes, and the REST lookup by Instagram id.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Registers `_igbridge_source_id` / `_igbridge_permalink` (and the hashes of what the
 * import wrote, which repair compares) and the `igbridge_source_id` filter on the
 * posts route of every post type the importer may write to (any type in the REST API
 * that supports the editor: /wp/v2/posts, /wp/v2/<rest_base>), so the importer can
 * find a post it already made (in any status) before creating it again.
 */
class IGBridge_Meta
{
    public const SOURCE_ID_KEY = '_igbridge_source_id';
    public const PERMALINK_KEY = '_igbridge_permalink';
    public const QUERY_ARG     = 'igbridge_source_id';
    /** Hash of the content the import wrote: repair leaves an edited post's text alone. */
    public const CONTENT_HASH_KEY = '_igbridge_content_hash';
    /** Hash of the caption the import wrote: repair sees a caption changed on Instagram. */
    public const CAPTION_HASH_KEY = '_igbridge_caption_hash';
    /** Hash of the title the import wrote: repair leaves a title edited in WordPress alone. */
    public const TITLE_HASH_KEY = '_igbridge_title_hash';

    /**
     * Hooks this class into WordPress.
     */
    public static function register_hooks(): void
    {
        add_action('init', array(self::class, 'register_meta'));
        // Late: after other plugins registered their post types.
        add_action('init', array(self::class, 'show_meta_of_post_types'), 100);
        add_action('rest_api_init', array(self::class, 'hook_post_types'), 1);
    }

    /**
     * The post types the importer may write to: in the REST API, supporting the editor
     * (an imported post's content is block markup).
     *
     * @return list<string>
     */
    public static function post_types(): array
    {
        $types = array();
        foreach (get_post_types(array('show_in_rest' => true)) as $type) {
            if ('attachment' !== $type && post_type_supports($type, 'editor')) {
                $types[] = (string) $type;
            }
        }
        return $types;
    }

    /**
     * The REST API shows a post type's registered meta only when the type supports
     * custom fields: the importer writes and looks up its source id there.
     */
    public static function show_meta_of_post_types(): void
    {
        foreach (self::post_types() as $type) {
            add_post_type_support($type, 'custom-fields');
        }
    }

    /**
     * The lookup argument, its query filter and the second-copy guard on every post
     * type's route (the REST hooks are named after the type).
     */
    public static function hook_post_types(): void
    {
        foreach (self::post_types() as $type) {
            add_filter("rest_{$type}_collection_params", array(self::class, 'add_collection_param'));
            add_filter("rest_{$type}_query", array(self::class, 'filter_rest_query'), 10, 2);
            add_filter("rest_pre_insert_{$type}", array(self::class, 'refuse_second_copy'), 10, 2);
            add_action("rest_insert_{$type}", array('IGBridge_Index', 'finish_claim'), 1, 3);
        }
    }

    /**
     * Refuses to create a post for a source id that already has one (409, naming the
     * post): a create the importer sends again, after an answer it never got, is then
     * answered instead of made twice. The source id is claimed in the plugin's index
     * (see IGBridge_Index::claim()), whose UNIQUE key refuses a second post even when
     * two creates of one id run at the same moment.
     *
     * @param stdClass|WP_Error $prepared The post about to be inserted.
     * @param WP_REST_Request   $request  The REST request.
     * @return stdClass|WP_Error
     */
    public static function refuse_second_copy($prepared, WP_REST_Request $request)
    {
        if (is_wp_error($prepared) || ! empty($prepared->ID)) {
            return $prepared; // an error already, or an update of an existing post
        }
        $meta      = $request->get_param('meta');
        $source_id = is_array($meta) && isset($meta[self::SOURCE_ID_KEY]) ? $meta[self::SOURCE_ID_KEY] : '';
        if (! is_string($source_id) || '' === $source_id) {
            return $prepared;
        }
        $claimed = IGBridge_Index::claim(sanitize_text_field($source_id));
        return is_wp_error($claimed) ? $claimed : $prepared;
    }

    /**
     * Registers the keys as protected, REST-visible, single string meta of every post type.
     */
    public static function register_meta(): void
    {
        $descriptions = array(
            self::SOURCE_ID_KEY    => __('Instagram id this post was imported from.', 'igbridge'),
            self::PERMALINK_KEY    => __('Link to the original Instagram post.', 'igbridge'),
            self::CONTENT_HASH_KEY => __('Hash of the content as imported.', 'igbridge'),
            self::CAPTION_HASH_KEY => __('Hash of the Instagram caption as imported.', 'igbridge'),
            self::TITLE_HASH_KEY   => __('Hash of the title as imported.', 'igbridge'),
        );
        foreach ($descriptions as $key => $description) {
            register_post_meta(
                '',
                $key,
                array(
                    'type'              => 'string',
                    'description'       => $description,
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
    }

    /** Most source ids one lookup may name (the importer sends at most 25). */
    public const MAX_LOOKUP_IDS = 100;

    /**
     * Declares the `igbridge_source_id` collection argument on /wp/v2/posts: one id
     * (`igbridge_source_id=ID`) or several (`igbridge_source_id[]=ID&igbridge_source_id[]=ID`).
     * Not typed as a REST array: that would split a single id at commas and spaces.
     *
     * @param array<string, mixed> $params Collection parameters.
     * @return array<string, mixed>
     */
    public static function add_collection_param(array $params): array
    {
        $params[self::QUERY_ARG] = array(
            'description'       => __('Limit results to posts imported from these Instagram ids.', 'igbridge'),
            'validate_callback' => array(self::class, 'validate_source_ids'),
            'sanitize_callback' => array(self::class, 'sanitize_source_ids'),
        );
        return $params;
    }

    /**
     * One non-empty string, or a list of at most MAX_LOOKUP_IDS of them.
     *
     * @param mixed $value The raw argument.
     * @return true|WP_Error
     */
    public static function validate_source_ids($value)
    {
        $ids = is_array($value) ? $value : array($value);
        if (array() === $ids || count($ids) > self::MAX_LOOKUP_IDS) {
            return new WP_Error(
                'rest_invalid_param',
                sprintf(
                    /* translators: %d: the most ids one lookup may name */
                    __('igbridge_source_id names 1 to %d source ids.', 'igbridge'),
                    self::MAX_LOOKUP_IDS
                ),
                array('status' => 400)
            );
        }
        foreach ($ids as $id) {
            if (! is_string($id) || '' === $id) {
                return new WP_Error(
                    'rest_invalid_param',
                    __('igbridge_source_id must be a non-empty string or a list of them.', 'igbridge'),
                    array('status' => 400)
                );
            }
        }
        return true;
    }

    /**
     * The source ids as a list of clean strings.
     *
     * @param mixed $value The validated argument.
     * @return list<string>
     */
    public static function sanitize_source_ids($value): array
    {
        $ids = is_array($value) ? $value : array($value);
        return array_values(array_map('sanitize_text_field', array_map('strval', $ids)));
    }

    /**
     * Limits the query to the posts the plugin's index names for `igbridge_source_id`
     * (one indexed lookup instead of a scan of `meta_value`). Core already enforces
     * that non-public statuses (status=any, status=draft,...) need edit rights; with
     * `status=any` the trash is included too, so the importer sees a post the owner
     * trashed instead of making it again.
     *
     * @param array<string, mixed> $args    WP_Query arguments.
     * @param WP_REST_Request      $request The REST request.
     * @return array<string, mixed>
     */
    public static function filter_rest_query(array $args, WP_REST_Request $request): array
    {
        $ids = $request->get_param(self::QUERY_ARG);
        if (! is_array($ids) || array() === $ids) {
            return $args;
        }
        $post_ids = array_values(IGBridge_Index::post_ids(array_values(array_unique($ids))));
        $wanted   = array() === $post_ids ? array(0) : $post_ids;
        $args['post__in'] = isset($args['post__in']) && is_array($args['post__in']) && array() !== $args['post__in']
            ? array_values(array_intersect($args['post__in'], $wanted))
            : $wanted;
        if (array() === $args['post__in']) {
            $args['post__in'] = array(0);
        }
        $status = isset($args['post_status']) ? (array) $args['post_status'] : array();
        if (array('any') === $status) {
            $args['post_status'] = array_merge(array_values(get_post_stati(array('exclude_from_search' => false))), array('trash'));
        }
        return $args;
    }
}
