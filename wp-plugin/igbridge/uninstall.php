<?php

/**
 * Removes what igbridge stored in WordPress: its options, its index table and any
 * export ZIPs an old version left in wp-content/uploads/igbridge/. Imported posts and
 * their meta stay: they are the site owner's content (a later install rebuilds the
 * index from the meta). Uploads and the Apify token live in the sidecar's data dir,
 * which the sidecar's own retention cleans.
 *
 * @package igbridge
 */

if (! defined('WP_UNINSTALL_PLUGIN')) {
    exit;
}

require_once __DIR__ . '/includes/class-igbridge-settings.php';
require_once __DIR__ . '/includes/class-igbridge-legacy-uploads.php';
require_once __DIR__ . '/includes/class-igbridge-meta.php';
require_once __DIR__ . '/includes/class-igbridge-index.php';

delete_option(IGBridge_Settings::OPTION);
IGBridge_Legacy_Uploads::delete_all();
delete_option(IGBridge_Legacy_Uploads::DONE_OPTION);
IGBridge_Index::uninstall();
