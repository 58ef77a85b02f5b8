<?php

/**
 * The "Instagram Import" dashboard and the scripts of both igbridge screens.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Adds the top-level menu, prints the dashboard's static markup and enqueues
 * the ES module that brings it to life, only on igbridge's own screens.
 */
class IGBridge_Admin_Page
{
    public const SLUG = 'igbridge';

    private const MODULE_HANDLES = array('igbridge-admin', 'igbridge-settings');

    /**
     * What assets/admin.js imports, as it names them (no ?ver: a preload must match the import's URL).
     */
    private const DASHBOARD_IMPORTS = array('assets/rest.js', 'assets/progress/progress-tracker.js', 'assets/progress/progress-ui.js');

    /**
     * Hook suffix returned by add_menu_page().
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
        add_action('admin_enqueue_scripts', array(self::class, 'enqueue'));
        add_filter('script_loader_tag', array(self::class, 'as_module'), 10, 2);
        add_filter('wp_auth_check_load', array(self::class, 'without_auth_check'), 10, 2);
    }

    /**
     * Core's login check polls admin-ajax.php every minute (Heartbeat). The dashboard needs
     * no polling: it learns of an expired login from its own next request and says so.
     *
     * @param bool      $show   Whether to load the check.
     * @param WP_Screen $screen Current screen.
     */
    public static function without_auth_check($show, $screen): bool
    {
        return (bool) $show && ! ('' !== self::$hook_suffix && $screen instanceof WP_Screen && self::$hook_suffix === $screen->id);
    }

    /**
     * Adds the top-level "Instagram Import" menu.
     */
    public static function add_page(): void
    {
        self::$hook_suffix = (string) add_menu_page(
            __('Instagram Import', 'igbridge'),
            __('Instagram Import', 'igbridge'),
            IGBridge_REST_Controller::capability(),
            self::SLUG,
            array(self::class, 'render'),
            'dashicons-instagram',
            26
        );
    }

    /**
     * Enqueues assets on the dashboard and the settings screen, nowhere else.
     *
     * @param string $hook_suffix Current admin screen.
     */
    public static function enqueue(string $hook_suffix): void
    {
        $on_dashboard = '' !== self::$hook_suffix && self::$hook_suffix === $hook_suffix;
        $on_settings  = '' !== IGBridge_Settings_Page::hook_suffix() && IGBridge_Settings_Page::hook_suffix() === $hook_suffix;
        if (! $on_dashboard && ! $on_settings) {
            return;
        }
        wp_enqueue_style('igbridge-admin', IGBRIDGE_URL . 'assets/admin.css', array(), IGBRIDGE_VERSION);

        $config = array(
            'restUrl'   => esc_url_raw(rest_url(IGBridge_REST_Controller::NAMESPACE . '/')),
            'nonce'     => wp_create_nonce('wp_rest'),
            'publicUrl' => (string) IGBridge_Settings::get('public_url'),
            'adminUrl'  => esc_url_raw(admin_url()),
            'homeUrl'   => esc_url_raw(home_url('/')),
            'i18n'      => IGBridge_Strings::all(),
        );

        if ($on_dashboard) {
            wp_enqueue_style('igbridge-progress', IGBRIDGE_URL . 'assets/progress/progress.css', array(), IGBRIDGE_VERSION);
            $config['apifyLimit']       = (int) IGBridge_Settings::get('apify_limit');
            $config['uploadChunkBytes'] = IGBridge_Upload_Routes::chunk_bytes();
            $config['settingsUrl']      = esc_url_raw(admin_url('options-general.php?page=' . IGBridge_Settings_Page::SLUG) . '#igbridge-test-connection');
            $config['loginUrl']         = esc_url_raw(wp_login_url(admin_url('admin.php?page=' . self::SLUG)));
            // A preview is picked from on its own screen: admin.js sends the person there.
            $config['previewUrl']       = esc_url_raw(IGBridge_Preview_Page::url()) . '&job=';
            wp_enqueue_script('igbridge-admin', IGBRIDGE_URL . 'assets/admin.js', array(), IGBRIDGE_VERSION, true);
            add_action('admin_head', array(self::class, 'preload_modules'));
            wp_add_inline_script('igbridge-admin', 'window.igbridgeConfig = ' . wp_json_encode($config) . ';', 'before');
            return;
        }
        wp_enqueue_script('igbridge-settings', IGBRIDGE_URL . 'assets/settings.js', array(), IGBRIDGE_VERSION, true);
        wp_add_inline_script('igbridge-settings', 'window.igbridgeConfig = ' . wp_json_encode($config) . ';', 'before');
    }

    /**
     * Asks for the dashboard's imported modules with the page, not one round trip after admin.js.
     */
    public static function preload_modules(): void
    {
        foreach (self::DASHBOARD_IMPORTS as $file) {
            printf("<link rel=\"modulepreload\" href=\"%s\" />\n", esc_url(IGBRIDGE_URL . $file));
        }
    }

    /**
     * Marks our scripts as ES modules (WordPress 6.1 has no module API).
     * The tag passed in also holds the inline config script, which must stay classic.
     *
     * @param string $tag    The script tag(s).
     * @param string $handle Script handle.
     */
    public static function as_module(string $tag, string $handle): string
    {
        if (! in_array($handle, self::MODULE_HANDLES, true)) {
            return $tag;
        }
        return self::module_tag($tag, $handle);
    }

    /**
     * The script tag of ``$handle`` as an ES module (its type attribute replaced); every
     * igbridge screen loads its script this way.
     */
    public static function module_tag(string $tag, string $handle): string
    {
        $id = preg_quote($handle . '-js', '/');
        return (string) preg_replace_callback(
            '/<script\b([^>]*)\bid=([\'"])' . $id . '\2([^>]*)>/',
            static function (array $match): string {
                $attributes = preg_replace('/\s+type=([\'"])[^\'"]*\1/', '', $match[0]);
                return str_replace('<script', '<script type="module"', (string) $attributes);
            },
            $tag
        );
    }

    /**
     * What limits an upload here, said before anyone picks a file (admin.js adds the sidecar's own).
     */
    private static function upload_limits_text(): string
    {
        $php_limit = min(
            wp_convert_hr_to_bytes((string) ini_get('upload_max_filesize')),
            wp_convert_hr_to_bytes((string) ini_get('post_max_size'))
        );
        $pieces = sprintf(
            /* translators: 1: chunk size, e.g. "8 MB", 2: PHP's own upload limit, e.g. "64 MB". */
            __('Files go up in pieces of %1$s, so PHP\'s upload limit on this server (%2$s) does not cap an export.', 'igbridge'),
            size_format(IGBridge_Upload_Routes::chunk_bytes()),
            size_format($php_limit)
        );
        return implode(
            ' ',
            array(
                $pieces,
                __('If the connection drops, the upload goes on by itself; after a reload, choose the same files again and it resumes where it stopped.', 'igbridge'),
                __('Uploads are kept by the sidecar, never in WordPress, and deleted once their import has completed.', 'igbridge'),
                __('One imported from a preview stays until its retention period ends, so more of its posts can be picked.', 'igbridge'),
            )
        );
    }

    /**
     * Prints the dashboard. Lists and progress are filled in by assets/admin.js.
     */
    public static function render(): void
    {
        if (! current_user_can(IGBridge_REST_Controller::capability())) {
            wp_die(esc_html__('You are not allowed to manage igbridge.', 'igbridge'), 403);
        }
        $settings     = IGBridge_Settings::all();
        $settings_url = admin_url('options-general.php?page=' . IGBridge_Settings_Page::SLUG);
        ?>
<div class="wrap igbridge">
    <h1 class="wp-heading-inline"><?php echo esc_html__('Instagram Import', 'igbridge'); ?></h1>
    <a href="<?php echo esc_url($settings_url); ?>" class="page-title-action"><?php echo esc_html__('Settings', 'igbridge'); ?></a>
    <hr class="wp-header-end" />
        <?php if ('' === $settings['internal_url'] || '' === $settings['secret'] || '' === $settings['public_url']) : ?>
    <div class="notice notice-warning"><p>
            <?php echo esc_html__('igbridge is not connected to its sidecar yet.', 'igbridge'); ?>
        <a href="<?php echo esc_url($settings_url); ?>"><?php echo esc_html__('Enter the sidecar URLs and secret.', 'igbridge'); ?></a>
    </p></div>
        <?php endif; ?>
    <noscript><div class="notice notice-error"><p><?php echo esc_html__('This page needs JavaScript.', 'igbridge'); ?></p></div></noscript>
    <div id="igbridge-notices" aria-live="polite"></div>

    <div class="igbridge-cards">
        <div class="card">
            <h2 class="title"><?php echo esc_html__('Instagram profile', 'igbridge'); ?></h2>
            <form id="igbridge-profile-form">
                <p>
                    <label for="igbridge-username"><?php echo esc_html__('Username', 'igbridge'); ?></label><br />
                    <input type="text" id="igbridge-username" name="username" class="regular-text" required
                        pattern="@?[A-Za-z0-9._]{1,30}" placeholder="@username" autocomplete="off" />
                </p>
                <p>
                    <label for="igbridge-limit"><?php echo esc_html__('Posts (most recent)', 'igbridge'); ?></label><br />
                    <input type="number" id="igbridge-limit" name="limit" class="small-text" min="1"
                        max="<?php echo (int) IGBridge_Settings::MAX_APIFY_LIMIT; ?>" value="<?php echo (int) $settings['apify_limit']; ?>" />
                </p>
                <fieldset>
                    <legend class="screen-reader-text"><?php echo esc_html__('What to do', 'igbridge'); ?></legend>
                    <label><input type="radio" name="kind" value="import" checked /> <?php echo esc_html__('Import into WordPress', 'igbridge'); ?></label><br />
                    <label><input type="radio" name="kind" value="preview" />
                        <?php echo esc_html__('Preview first (see the posts and the cost, pick what to import)', 'igbridge'); ?></label><br />
                    <label><input type="radio" name="kind" value="scrape" /> <?php echo esc_html__('Scrape only (fetch, do not import)', 'igbridge'); ?></label>
                </fieldset>
                <p><button type="submit" class="button button-primary"><?php echo esc_html__('Start', 'igbridge'); ?></button></p>
            </form>
        </div>

        <div class="card">
            <h2 class="title"><?php echo esc_html__('Instagram export ZIP', 'igbridge'); ?></h2>
            <form id="igbridge-zip-form">
                <p><?php echo esc_html__('The ZIP from Instagram\'s "Download your information", in JSON format.', 'igbridge'); ?>
                    <?php echo esc_html__('A large export comes in several parts: choose them all at once.', 'igbridge'); ?></p>
                <p><input type="file" id="igbridge-zip" name="file" accept=".zip,application/zip" multiple required /></p>
                <p class="description" id="igbridge-upload-limits"><?php echo esc_html(self::upload_limits_text()); ?></p>
                <div id="igbridge-upload-progress" hidden></div>
                <p><button type="submit" class="button button-primary"><?php echo esc_html__('Upload and import', 'igbridge'); ?></button></p>
            </form>
        </div>

        <div class="card igbridge-chat">
            <h2 class="title"><?php echo esc_html__('Commands', 'igbridge'); ?></h2>
            <ol id="igbridge-chat-log" class="igbridge-chat-log" aria-live="polite"></ol>
            <form id="igbridge-command-form">
                <label for="igbridge-command" class="screen-reader-text"><?php echo esc_html__('Command', 'igbridge'); ?></label>
                <input type="text" id="igbridge-command" name="text" class="regular-text" required maxlength="500"
                    placeholder="<?php echo esc_attr__('e.g. bulk import @username', 'igbridge'); ?>" autocomplete="off" />
                <button type="submit" class="button"><?php echo esc_html__('Send', 'igbridge'); ?></button>
            </form>
        </div>
    </div>

    <h2><?php echo esc_html__('Jobs', 'igbridge'); ?></h2>
    <table class="widefat striped igbridge-jobs">
        <thead><tr>
            <th scope="col"><?php echo esc_html__('Job', 'igbridge'); ?></th>
            <th scope="col"><?php echo esc_html__('Source', 'igbridge'); ?></th>
            <th scope="col" class="igbridge-col-progress"><?php echo esc_html__('Progress', 'igbridge'); ?></th>
            <th scope="col"><?php echo esc_html__('Outcome', 'igbridge'); ?></th>
            <th scope="col"><?php echo esc_html__('Actions', 'igbridge'); ?></th>
        </tr></thead>
        <tbody id="igbridge-jobs-body">
            <tr class="igbridge-empty"><td colspan="5"><?php echo esc_html__('Loading jobs…', 'igbridge'); ?></td></tr>
        </tbody>
    </table>
</div>
        <?php
    }
}
