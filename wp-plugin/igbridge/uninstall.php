<?php

/**
 * Removes what igbridge stored: its option and the uploaded export ZIPs.
 * Imported posts and their meta stay: they are the site owner's content.
 *
 * @package igbridge
 */

if (! defined('WP_UNINSTALL_PLUGIN')) {
    exit;
}

require_once __DIR__ . '/includes/class-igbridge-settings.php';
require_once __DIR__ . '/includes/class-igbridge-zip-upload.php';

delete_option(IGBridge_Settings::OPTION);
IGBridge_Zip_Upload::delete_all();
