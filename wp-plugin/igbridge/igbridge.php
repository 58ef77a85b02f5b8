<?php

/**
 * Plugin Name:       igbridge
 * Description:       Import Instagram posts into WordPress through the igbridge sidecar, with live progress in wp-admin.
 * Version:           0.1.0
 * Requires at least: 6.1
 * Requires PHP:      8.0
 * Author:            igbridge contributors
 * License:           GPL-2.0-or-later
 * License URI:       https://www.gnu.org/licenses/gpl-2.0.html
 * Text Domain:       igbridge
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

define('IGBRIDGE_VERSION', '0.1.0');
define('IGBRIDGE_FILE', __FILE__);
define('IGBRIDGE_DIR', plugin_dir_path(__FILE__));
define('IGBRIDGE_URL', plugin_dir_url(__FILE__));

require_once IGBRIDGE_DIR . 'includes/class-igbridge-meta.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-index.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-geo-meta.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-deleted.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-media-users.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-settings.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-sidecar-client.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-connection-check.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-apify-token.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-legacy-uploads.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-upload-routes.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-rest-controller.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-strings.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-settings-page.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-admin-page.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-sources-controller.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-submenu-page.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-sources-page.php';
require_once IGBRIDGE_DIR . 'includes/class-igbridge-preview-page.php';

IGBridge_Meta::register_hooks();
IGBridge_Index::register_hooks();
IGBridge_Geo_Meta::register_hooks();
IGBridge_Deleted::register_hooks();
IGBridge_Media_Users::register_hooks();
IGBridge_REST_Controller::register_hooks();
IGBridge_Upload_Routes::register_hooks();
IGBridge_Sources_Controller::register_hooks();
if (is_admin()) {
    IGBridge_Settings_Page::register_hooks();
    IGBridge_Admin_Page::register_hooks();
    IGBridge_Sources_Page::register_hooks();
    IGBridge_Preview_Page::register_hooks();
    IGBridge_Legacy_Uploads::register_hooks();
}
