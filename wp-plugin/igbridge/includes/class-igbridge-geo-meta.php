<?php

/**
 * WordPress's Geodata meta for imported posts: where an Instagram post was taken.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Registers `geo_latitude`, `geo_longitude`, `geo_address` and `geo_public` (the
 * Geodata keys themes and map plugins read) for REST, so the importer can write a
 * post's place with the post itself.
 */
class IGBridge_Geo_Meta
{
    /**
     * Hooks this class into WordPress.
     */
    public static function register_hooks(): void
    {
        add_action('init', array(self::class, 'register_meta'));
    }

    /**
     * Registers the four keys as single, REST-visible meta that editors may write.
     */
    public static function register_meta(): void
    {
        $keys = array(
            'geo_latitude'  => array('number', __('Latitude where the post was taken.', 'igbridge')),
            'geo_longitude' => array('number', __('Longitude where the post was taken.', 'igbridge')),
            'geo_address'   => array('string', __('Name of the place where the post was taken.', 'igbridge')),
            'geo_public'    => array('integer', __('1 when the place may be shown publicly.', 'igbridge')),
        );
        foreach ($keys as $key => $spec) {
            register_post_meta(
                '', // every post type: a saved source may import into any of them
                $key,
                array(
                    'type'              => $spec[0],
                    'description'       => $spec[1],
                    'single'            => true,
                    'show_in_rest'      => true,
                    'sanitize_callback' => 'string' === $spec[0] ? 'sanitize_text_field' : null,
                    'auth_callback'     => static function (): bool {
                        return current_user_can('edit_posts');
                    },
                )
            );
        }
    }
}
