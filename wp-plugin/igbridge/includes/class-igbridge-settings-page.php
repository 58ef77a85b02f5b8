<?php

/**
 * Settings → igbridge: the Settings API form for the sidecar connection.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Renders and registers the settings form. The stored secret is never put
 * into the page: the field is blank with its last four characters as a hint.
 */
class IGBridge_Settings_Page
{
    public const SLUG = 'igbridge-settings';

    private const SECTION = 'igbridge_connection';

    /**
     * Hook suffix returned by add_options_page().
     *
     * @var string
     */
    private static string $hook_suffix = '';

    /**
     * Hooks this class into WordPress.
     */
    public static function register_hooks(): void
    {
        add_action('admin_menu', array(self::class, 'add_page'));
        add_action('admin_init', array(self::class, 'register_settings'));
    }

    /**
     * The screen's hook suffix, for enqueueing only there.
     */
    public static function hook_suffix(): string
    {
        return self::$hook_suffix;
    }

    /**
     * Adds Settings → igbridge.
     */
    public static function add_page(): void
    {
        $suffix = add_options_page(
            __('igbridge settings', 'igbridge'),
            __('igbridge', 'igbridge'),
            IGBridge_REST_Controller::capability(),
            self::SLUG,
            array(self::class, 'render')
        );
        self::$hook_suffix = is_string($suffix) ? $suffix : '';
    }

    /**
     * Registers the option, its section and fields.
     */
    public static function register_settings(): void
    {
        register_setting(
            'igbridge',
            IGBridge_Settings::OPTION,
            array(
                'type'              => 'array',
                'sanitize_callback' => array('IGBridge_Settings', 'sanitize'),
                'show_in_rest'      => false,
                'default'           => array(),
            )
        );
        add_settings_section(
            self::SECTION,
            __('Sidecar connection', 'igbridge'),
            static function (): void {
                echo '<p>' . esc_html__(
                    'igbridge runs its imports in a separate service, the sidecar. Tell WordPress where to find it and the secret they share.',
                    'igbridge'
                ) . '</p>';
            },
            self::SLUG
        );

        $fields = array(
            'public_url'   => array(
                __('Sidecar URL (browser)', 'igbridge'),
                __('How a visitor\'s browser reaches the sidecar, for live progress, e.g. http://127.0.0.1:8765.', 'igbridge'),
            ),
            'internal_url' => array(
                __('Sidecar URL (WordPress)', 'igbridge'),
                __('How this WordPress server reaches the sidecar, e.g. http://sidecar:8765 in Docker. Leave blank to use the browser URL.', 'igbridge'),
            ),
            'secret'       => array(__('Shared secret', 'igbridge'), __('The sidecar\'s IGBRIDGE_SECRET. Leave blank to keep the stored secret.', 'igbridge')),
            'apify_token'  => array(
                __('Apify token', 'igbridge'),
                __('Your Apify API token (Apify Console → Settings → API & Integrations).', 'igbridge') . ' '
                . __('It is sent to the sidecar, which keeps it; WordPress does not store it and never shows it again. Leave blank to keep it as it is.', 'igbridge'),
            ),
            'apify_limit'  => array(__('Default Apify limit', 'igbridge'), __('How many recent posts a scrape fetches unless told otherwise.', 'igbridge')),
        );
        foreach ($fields as $key => [$label, $help]) {
            add_settings_field(
                'igbridge_' . $key,
                $label,
                array(self::class, 'render_field'),
                self::SLUG,
                self::SECTION,
                array(
                    'label_for' => 'igbridge_' . $key,
                    'key'       => $key,
                    'help'      => $help,
                )
            );
        }
    }

    /**
     * Renders one field.
     *
     * @param array{label_for: string, key: string, help: string} $args Field arguments.
     */
    public static function render_field(array $args): void
    {
        $key   = $args['key'];
        $name  = IGBridge_Settings::OPTION . '[' . $key . ']';
        $value = IGBridge_Settings::all();
        $stored = get_option(IGBridge_Settings::OPTION, array());
        switch ($key) {
            case 'secret':
                $masked = IGBridge_Settings::masked_secret();
                printf(
                    '<input type="password" id="%1$s" name="%2$s" value="" class="regular-text" autocomplete="new-password" placeholder="%3$s" />',
                    esc_attr($args['label_for']),
                    esc_attr($name),
                    esc_attr('' === $masked ? __('not set', 'igbridge') : $masked)
                );
                if ('' !== $masked) {
                    echo ' <span class="description">' . esc_html(sprintf(
                        /* translators: %s: masked secret, e.g. ••••••••a1b2. */
                        __('Stored: %s', 'igbridge'),
                        $masked
                    )) . '</span>';
                }
                break;
            case 'apify_token':
                printf(
                    '<input type="password" id="%1$s" name="%2$s" value="" class="regular-text" autocomplete="off" spellcheck="false" />',
                    esc_attr($args['label_for']),
                    esc_attr($name)
                );
                echo ' <span class="description" id="igbridge-apify-token-status">' . esc_html(self::apify_token_status()) . '</span>';
                printf(
                    '<br /><label><input type="checkbox" name="%1$s" value="1" /> %2$s</label>',
                    esc_attr(IGBridge_Settings::OPTION . '[' . IGBridge_Apify_Token::CLEAR_FIELD . ']'),
                    esc_html__('Remove the token saved in the sidecar', 'igbridge')
                );
                break;
            case 'apify_limit':
                printf(
                    '<input type="number" id="%1$s" name="%2$s" value="%3$d" min="1" max="%4$d" step="1" class="small-text" />',
                    esc_attr($args['label_for']),
                    esc_attr($name),
                    (int) $value['apify_limit'],
                    (int) IGBridge_Settings::MAX_APIFY_LIMIT
                );
                break;
            default:
                // Show what is stored, not the fallback, so a blank internal URL stays blank.
                $shown = is_array($stored) && isset($stored[$key]) ? (string) $stored[$key] : '';
                printf(
                    '<input type="url" id="%1$s" name="%2$s" value="%3$s" class="regular-text code" placeholder="http://127.0.0.1:8765" />',
                    esc_attr($args['label_for']),
                    esc_attr($name),
                    esc_attr($shown)
                );
        }
        echo '<p class="description">' . esc_html($args['help']) . '</p>';
    }

    /**
     * "set" or "not set", and where the sidecar's token comes from; never the token.
     */
    private static function apify_token_status(): string
    {
        $status = IGBridge_Apify_Token::status(IGBridge_Sidecar_Client::from_settings());
        if (is_wp_error($status)) {
            /* translators: %s: why the sidecar could not be asked. */
            return sprintf(__('Status unknown: %s', 'igbridge'), $status->get_error_message());
        }
        if (! $status['set']) {
            return __('Not set.', 'igbridge');
        }
        return 'environment' === $status['source']
            ? __('Set, by the sidecar\'s APIFY_TOKEN environment variable (it wins over a token saved here).', 'igbridge')
            : __('Set (saved in the sidecar).', 'igbridge');
    }

    /**
     * Renders the page.
     */
    public static function render(): void
    {
        if (! current_user_can(IGBridge_REST_Controller::capability())) {
            wp_die(esc_html__('You are not allowed to manage igbridge.', 'igbridge'), 403);
        }
        echo '<div class="wrap igbridge-settings">';
        echo '<h1>' . esc_html(get_admin_page_title()) . '</h1>';
        echo '<form action="options.php" method="post">';
        settings_fields('igbridge');
        do_settings_sections(self::SLUG);
        submit_button();
        echo '</form>';

        echo '<div class="card igbridge-test-connection">';
        echo '<h2 class="title">' . esc_html__('Test connection', 'igbridge') . '</h2>';
        echo '<p>' . esc_html__(
            'Checks the saved settings: can WordPress reach the sidecar, does the secret match, do versions fit, is the Apify token valid, can this browser reach the sidecar?',
            'igbridge'
        ) . '</p>';
        echo '<p><button type="button" class="button" id="igbridge-test-connection">' . esc_html__('Test connection', 'igbridge') . '</button></p>';
        echo '<div id="igbridge-test-result" role="status" aria-live="polite"></div>';
        echo '</div>';
        echo '</div>';
    }
}
