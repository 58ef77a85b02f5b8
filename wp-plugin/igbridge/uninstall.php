<?php

/**
 * Removes what igbridge stored: its options, its index table and the uploaded
 * export ZIPs. Imported posts and their meta stay: they are the site owner's content
 * (a later install rebuilds the index from the meta).
 *
 * @package igbridge
 */

if (! defined('WP_UNINSTALL_PLUGIN')) {
    exit;
}

require_once __DIR__ . '/includes/class-igbridge-settings.php';
require_once __DIR__ . '/includes/class-igbridge-zip-upload.php';
require_once __DIR__ . '/includes/class-igbridge-meta.php';
require_once __DIR__ . '/includes/class-igbridge-index.php';

delete_option(IGBridge_Settings::OPTION);
IGBridge_Zip_Upload::delete_all();
IGBridge_Index::uninstall();
