<?php

/**
 * The "Preview" screen: a preview job's posts as a grid to pick from (issue 14).
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * A submenu of "Instagram Import", opened with ?job=<preview job id> from the dashboard's
 * start form, a preview row of the jobs list, or a saved source's "Preview" button. The
 * markup is static; assets/preview.js follows the job live, then fills the grid from
 * igbridge/v1 and starts "import selected" there. Thumbnails come from the sidecar with a
 * stream token (the browser never fetches Instagram's CDN, nor holds the secret).
 */
class IGBridge_Preview_Page extends IGBridge_Submenu_Page
{
    public const SLUG   = 'igbridge-preview';
    public const HANDLE = 'igbridge-preview';

    protected const SCRIPT        = 'assets/preview.js';
    protected const MENU_PRIORITY = 21;

    protected static function title(): string
    {
        return __('Preview and pick', 'igbridge');
    }

    protected static function menu_title(): string
    {
        return __('Preview', 'igbridge');
    }

    /**
     * The screen's address for one preview job.
     *
     * @param string $job_id The preview job, or '' for the screen alone.
     */
    public static function url(string $job_id = ''): string
    {
        $url = admin_url('admin.php?page=' . self::SLUG);
        return '' === $job_id ? $url : add_query_arg('job', rawurlencode($job_id), $url);
    }

    /**
     * The job id the screen was opened with, or ''.
     */
    private static function job_id(): string
    {
        // phpcs:ignore WordPress.Security.NonceVerification.Recommended -- a read-only view; every action goes through REST with its nonce.
        $job = isset($_GET['job']) ? sanitize_text_field(wp_unslash($_GET['job'])) : '';
        return preg_match('/^[\w-]{1,64}$/', $job) ? $job : '';
    }

    protected static function enqueue_styles(): void
    {
        wp_enqueue_style('igbridge-progress', IGBRIDGE_URL . 'assets/progress/progress.css', array(), IGBRIDGE_VERSION);
        wp_enqueue_style('igbridge-preview', IGBRIDGE_URL . 'assets/preview.css', array('igbridge-admin'), IGBRIDGE_VERSION);
    }

    /**
     * The job to show and where thumbnails and the dashboard are.
     *
     * @return array<string, mixed>
     */
    protected static function config(): array
    {
        return array(
            'publicUrl'    => (string) IGBridge_Settings::get('public_url'),
            'dashboardUrl' => esc_url_raw(admin_url('admin.php?page=' . IGBridge_Admin_Page::SLUG)),
            'jobId'        => self::job_id(),
        );
    }

    /**
     * The strings assets/preview.js shows.
     *
     * @return array<string, string>
     */
    public static function strings(): array
    {
        return array(
            'pv_none'           => __('Start a preview from the Instagram Import screen (choose "Preview first") or from a saved source.', 'igbridge'),
            'pv_not_preview'    => __('This job is not a preview.', 'igbridge'),
            'pv_new'            => __('new', 'igbridge'),
            'pv_already_imported' => __('already imported', 'igbridge'),
            'pv_deleted'        => __('deleted in WordPress', 'igbridge'),
            'pv_photo'          => __('photo', 'igbridge'),
            'pv_video'          => __('video', 'igbridge'),
            'pv_carousel'       => __('carousel', 'igbridge'),
            'pv_reel'           => __('reel', 'igbridge'),
            /* translators: %d: number of posts checked */
            'pv_import'         => __('Import selected (%d)', 'igbridge'),
            'pv_importing'      => __('Import started; it is on the Instagram Import screen.', 'igbridge'),
            /* translators: 1: estimated cost in USD, 2: number of results, 3: price per result, 4: the cap */
            'pv_estimate'       => __('Apify estimate: at most $%1$s (%2$s results × $%3$s, capped at $%4$s).', 'igbridge'),
            /* translators: %s: the charge in USD */
            'pv_charged'        => __('Charged for this run: $%s.', 'igbridge'),
            'pv_unknown'        => __('unknown', 'igbridge'),
            'pv_failed'         => __('The preview did not finish:', 'igbridge'),
        );
    }

    /**
     * Prints the progress, the cost and the grid to pick from.
     */
    protected static function render_content(): void
    {
        ?>
    <div id="igbridge-preview-progress"></div>
    <p id="igbridge-preview-cost" class="igbridge-reason" aria-live="polite"></p>
    <form id="igbridge-preview-form" hidden>
        <p>
            <button type="button" class="button" id="igbridge-preview-all-new"><?php echo esc_html__('Select the new ones', 'igbridge'); ?></button>
            <button type="button" class="button" id="igbridge-preview-none"><?php echo esc_html__('Select none', 'igbridge'); ?></button>
        </p>
        <fieldset>
            <legend class="screen-reader-text"><?php echo esc_html__('Posts to import', 'igbridge'); ?></legend>
            <ul id="igbridge-preview-grid" class="igbridge-grid"></ul>
        </fieldset>
        <p><button type="submit" class="button button-primary" id="igbridge-preview-import"></button></p>
    </form>
        <?php
    }
}
