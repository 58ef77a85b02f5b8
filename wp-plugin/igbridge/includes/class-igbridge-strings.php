<?php

/**
 * Translatable strings for the admin scripts.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * Every string the JavaScript shows, translated in PHP and handed over as
 * JSON, so the scripts need no i18n machinery of their own.
 */
class IGBridge_Strings
{
    /**
     * Strings keyed as assets/admin.js, settings.js and rest.js read them.
     *
     * @return array<string, mixed>
     */
    public static function all(): array
    {
        return array(
            /* translators: %d: number of posts created in WordPress by the job. */
            'count_imported'  => __('%d imported', 'igbridge'),
            /* translators: %d: number of posts that WordPress already had. */
            'count_already_imported' => __('%d already in WordPress', 'igbridge'),
            /* translators: %d: number of posts skipped on purpose (collab posts, duplicates, excluded reels). */
            'count_skipped'   => __('%d skipped', 'igbridge'),
            /* translators: %d: number of posts that failed. */
            'count_failed'    => __('%d failed', 'igbridge'),
            /* translators: %d: number of posts not done yet. */
            'count_pending'   => __('%d to do', 'igbridge'),
            /* translators: %d: number of posts a finished preview found. */
            'count_found'     => __('%d post(s) found', 'igbridge'),
            /* translators: %d: number of posts a preview found that WordPress does not have yet. */
            'count_new'       => __('%d new', 'igbridge'),
            'items'           => __('Items', 'igbridge'),
            'more_items'      => __('Show more items', 'igbridge'),
            'no_items'        => __('No items.', 'igbridge'),
            'older_jobs'      => __('Show older jobs', 'igbridge'),
            /* translators: %d: number of image URLs. */
            'urls'            => __('%d image URLs', 'igbridge'),
            'item_pending'    => __('pending', 'igbridge'),
            'item_imported'   => __('imported', 'igbridge'),
            'item_already_imported' => __('already in WordPress', 'igbridge'),
            'item_skipped'    => __('skipped', 'igbridge'),
            'item_failed'     => __('failed', 'igbridge'),
            'kind_scrape'     => __('Scrape', 'igbridge'),
            'kind_import'     => __('Import', 'igbridge'),
            'kind_cache_images' => __('Cache images', 'igbridge'),
            'kind_preview'    => __('Preview', 'igbridge'),
            'pick_posts'      => __('Pick posts', 'igbridge'),
            'cancel'          => __('Cancel', 'igbridge'),
            'retry'           => __('Retry failed', 'igbridge'),
            /* translators: %s: the job's source, e.g. @username. */
            'job_done'        => __('igbridge job finished: %s', 'igbridge'),
            'no_jobs'         => __('No jobs yet. Start one above.', 'igbridge'),
            'jobs_failed'     => __('The job list could not be loaded.', 'igbridge'),
            'started'         => __('Job started.', 'igbridge'),
            'job_failed'      => __('The job failed.', 'igbridge'),
            'logged_out'      => __('You are logged out of WordPress:', 'igbridge'),
            'log_in_again'    => __('log in again', 'igbridge'),
            'stream_logged_out' => __('Live progress stopped: you are logged out.', 'igbridge'),
            /* translators: %s: the sidecar URL the browser uses. */
            'stream_unreachable' => __('This browser cannot reach the sidecar at %s, so progress is not live.', 'igbridge'),
            'test_connection' => __('Test the connection in Settings', 'igbridge'),
            'not_zip'         => __('Choose a .zip file: the export from Instagram\'s "Download your information".', 'igbridge'),
            /* translators: %s: file name(s). */
            'uploading'       => __('Uploading %s', 'igbridge'),
            /* translators: 1: part number, 2: number of parts, 3: file name. */
            'upload_part'     => __('Part %1$d of %2$d: %3$s', 'igbridge'),
            /* translators: 1: bytes sent, e.g. "312 MB", 2: total, e.g. "1.4 GB". */
            'upload_bytes'    => __('%1$s of %2$s', 'igbridge'),
            'estimating'      => __('estimating…', 'igbridge'),
            'uploaded'        => __('Uploaded; starting the import…', 'igbridge'),
            /* translators: 1: file name, 2: bytes the sidecar has, 3: file size, 4: why it stopped. */
            'upload_stopped'  => __('The upload of %1$s stopped at %2$s of %3$s: %4$s Choose the same file again to resume.', 'igbridge'),
            /* translators: 1: largest file in GB, 2: free disk in GB, 3: days. */
            'upload_limits'   => __('The sidecar takes files of up to %1$s GB and has %2$s GB free; an upload whose import failed is kept %3$d days for a retry.', 'igbridge'),
            /* translators: %s: job id. */
            'command_started' => __('Started job %s.', 'igbridge'),
            'network_error'   => __('WordPress could not be reached:', 'igbridge'),
            'dismiss'         => __('Dismiss this notice.', 'igbridge'),
            'stream_connecting'   => __('Connecting to live progress…', 'igbridge'),
            'stream_live'         => __('Live progress connected.', 'igbridge'),
            'stream_reconnecting' => __('Live progress interrupted; reconnecting…', 'igbridge'),
            'stream_offline'      => __('Live progress is offline; retrying. Check that the sidecar is running.', 'igbridge'),
            /* translators: %s: sidecar URL. */
            'browser_ok'      => __('This browser reaches the sidecar at %s.', 'igbridge'),
            /* translators: 1: sidecar URL, 2: this site's origin, 3: browser error. */
            'browser_failed'  => __(
                'This browser could not reach the sidecar at %1$s (%3$s). Check the browser URL, and that the sidecar allows the origin %2$s (IGBRIDGE_ALLOWED_ORIGINS).',
                'igbridge'
            ),
            'progress'        => array(
                'starting'    => __('Starting…', 'igbridge'),
                'running'     => __('Running', 'igbridge'),
                'complete'    => __('Complete', 'igbridge'),
                'error'       => __('Failed', 'igbridge'),
                'cancelled'   => __('Cancelled', 'igbridge'),
                'unit'        => __('posts', 'igbridge'),
                'of'          => __('of', 'igbridge'),
                'fewSeconds'  => __('a few seconds left', 'igbridge'),
                /* translators: %d: seconds. */
                'secondsLeft' => __('about %d s left', 'igbridge'),
                /* translators: %d: minutes. */
                'minutesLeft' => __('about %d min left', 'igbridge'),
                /* translators: %d: hours. */
                'hoursLeft'   => __('about %d h left', 'igbridge'),
                'estimating'  => __('estimating…', 'igbridge'),
                'notify'      => __('Desktop notification when done', 'igbridge'),
                'sound'       => __('Sound when done', 'igbridge'),
            ),
        );
    }
}
