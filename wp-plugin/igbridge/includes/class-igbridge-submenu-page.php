<?php

/**
 * What every screen under "Instagram Import" that its own ES module fills has in common.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * A submenu of "Instagram Import": the menu entry, the capability check, the screen's
 * heading and notices, and its script (an ES module, with its config and strings handed
 * over as JSON before it) enqueued on that screen only. A screen says what is its own:
 * its slug, script, titles, config, strings and markup.
 */
abstract class IGBridge_Submenu_Page
{
    /** The screen's ?page= (set by each screen). */
    public const SLUG = '';

    /** The handle of the screen's script (set by each screen). */
    public const HANDLE = '';

    /** The screen's script, under the plugin's folder (set by each screen). */
    protected const SCRIPT = '';

    /** The admin_menu priority: the order of the entries under "Instagram Import". */
    protected const MENU_PRIORITY = 20;

    /**
     * Hook suffixes returned by add_submenu_page(), by screen class.
     *
     * @var array<string, string>
     */
    private static array $hook_suffixes = array();

    /**
     * The screen's title, in the browser's title bar and as its heading.
     */
    abstract protected static function title(): string;

    /**
     * The screen's entry under "Instagram Import".
     */
    abstract protected static function menu_title(): string;

    /**
     * What the screen's script needs besides the REST address, the nonce and the strings.
     *
     * @return array<string, mixed>
     */
    abstract protected static function config(): array;

    /**
     * The strings the screen's script shows, on top of IGBridge_Strings::all().
     *
     * @return array<string, string>
     */
    abstract public static function strings(): array;

    /**
     * Prints the screen's own markup, below its heading and notices.
     */
    abstract protected static function render_content(): void;

    /**
     * Enqueues the screen's styles besides admin.css.
     */
    protected static function enqueue_styles(): void
    {
    }

    /**
     * Hooks the screen into WordPress.
     */
    public static function register_hooks(): void
    {
        add_action('admin_menu', array(static::class, 'add_page'), static::MENU_PRIORITY);
        add_action('admin_enqueue_scripts', array(static::class, 'enqueue'));
        add_filter('script_loader_tag', array(static::class, 'as_module'), 10, 2);
    }

    /**
     * Adds the screen under "Instagram Import".
     */
    public static function add_page(): void
    {
        self::$hook_suffixes[static::class] = (string) add_submenu_page(
            IGBridge_Admin_Page::SLUG,
            static::title(),
            static::menu_title(),
            IGBridge_REST_Controller::capability(),
            static::SLUG,
            array(static::class, 'render')
        );
    }

    /**
     * Enqueues the screen's script and styles on this screen only.
     *
     * @param string $hook_suffix Current admin screen.
     */
    public static function enqueue(string $hook_suffix): void
    {
        $own = self::$hook_suffixes[static::class] ?? '';
        if ('' === $own || $own !== $hook_suffix) {
            return;
        }
        wp_enqueue_style('igbridge-admin', IGBRIDGE_URL . 'assets/admin.css', array(), IGBRIDGE_VERSION);
        static::enqueue_styles();
        $config = array_merge(
            array(
                'restUrl' => esc_url_raw(rest_url(IGBridge_REST_Controller::NAMESPACE . '/')),
                'nonce'   => wp_create_nonce('wp_rest'),
            ),
            static::config(),
            array('i18n' => array_merge(IGBridge_Strings::all(), static::strings()))
        );
        wp_enqueue_script(static::HANDLE, IGBRIDGE_URL . static::SCRIPT, array(), IGBRIDGE_VERSION, true);
        wp_add_inline_script(static::HANDLE, 'window.igbridgeConfig = ' . wp_json_encode($config) . ';', 'before');
    }

    /**
     * Marks the screen's script as an ES module; the inline config before it stays classic.
     *
     * @param string $tag    The script tag(s).
     * @param string $handle Script handle.
     */
    public static function as_module(string $tag, string $handle): string
    {
        if (static::HANDLE !== $handle) {
            return $tag;
        }
        return IGBridge_Admin_Page::module_tag($tag, $handle);
    }

    /**
     * Prints the screen.
     */
    public static function render(): void
    {
        if (! current_user_can(IGBridge_REST_Controller::capability())) {
            wp_die(esc_html__('You are not allowed to manage igbridge.', 'igbridge'), 403);
        }
        ?>
<div class="wrap igbridge">
    <h1><?php echo esc_html(static::title()); ?></h1>
    <noscript><div class="notice notice-error"><p><?php echo esc_html__('This page needs JavaScript.', 'igbridge'); ?></p></div></noscript>
    <div id="igbridge-notices" aria-live="polite"></div>
        <?php
        static::render_content();
        ?>
</div>
        <?php
    }
}
