<?php
/**
 * Installs (once) and configures the local WordPress, run by dev/stack.py with
 * `php setup_wordpress.php` and its input as JSON on stdin:
 * {wp_dir, host, title, admin_user, admin_password, admin_email, plugin,
 *  settings, app_password_name}.
 * Prints one line `IGBRIDGE_SETUP {json}` with the new application password.
 * Any failure exits non-zero with the reason on stderr: the stack must not
 * come up half configured.
 */

function igbridge_setup_fail(string $message): void
{
    fwrite(STDERR, "setup_wordpress: $message\n");
    exit(1);
}

$igbridge_input = json_decode((string) stream_get_contents(STDIN), true);
if (!is_array($igbridge_input)) {
    igbridge_setup_fail('expected a JSON object on stdin');
}

// Without HTTP_HOST wp_install stores an empty siteurl and home.
$_SERVER['HTTP_HOST'] = $igbridge_input['host'];
$_SERVER['SERVER_NAME'] = '127.0.0.1';
$_SERVER['REQUEST_URI'] = '/';
define('WP_INSTALLING', true);
require $igbridge_input['wp_dir'] . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/plugin.php';

// Nothing can be mailed here; without this wp_install prints "sendmail: not found".
add_filter('pre_wp_mail', '__return_false');

if (!is_blog_installed()) {
    $result = wp_install(
        $igbridge_input['title'],
        $igbridge_input['admin_user'],
        $igbridge_input['admin_email'],
        true,
        '',
        $igbridge_input['admin_password']
    );
    if (empty($result['user_id'])) {
        igbridge_setup_fail('wp_install did not create the admin user');
    }
}

$igbridge_admin = get_user_by('login', $igbridge_input['admin_user']);
if (!$igbridge_admin) {
    igbridge_setup_fail('admin user ' . $igbridge_input['admin_user'] . ' does not exist');
}
// The password lives in stack.json, not in the database: set it on every start.
wp_set_password($igbridge_input['admin_password'], $igbridge_admin->ID);
wp_set_current_user($igbridge_admin->ID);

// Through WP_Rewrite, not update_option(): it keeps the structure it read at load time,
// and on a fresh install that is the date-based default, so flushing after only the
// option changed wrote date-based rules and every /%postname%/ link answered 404 (until
// a second start flushed again with the option read back).
global $wp_rewrite;
$wp_rewrite->set_permalink_structure('/%postname%/');
flush_rewrite_rules(true);

update_option('igbridge_settings', $igbridge_input['settings']);

$igbridge_plugin = $igbridge_input['plugin'];
if (!is_plugin_active($igbridge_plugin)) {
    $activation = activate_plugin($igbridge_plugin, '', false, false);
    if (is_wp_error($activation)) {
        igbridge_setup_fail(
            "activating $igbridge_plugin failed: " . $activation->get_error_code() . ': '
            . $activation->get_error_message()
        );
    }
}
if (!is_plugin_active($igbridge_plugin)) {
    igbridge_setup_fail("$igbridge_plugin is not active after activate_plugin()");
}

// One application password per start: drop the previous ones of this name.
$igbridge_name = $igbridge_input['app_password_name'];
foreach (WP_Application_Passwords::get_user_application_passwords($igbridge_admin->ID) as $igbridge_item) {
    if ($igbridge_item['name'] === $igbridge_name) {
        WP_Application_Passwords::delete_application_password($igbridge_admin->ID, $igbridge_item['uuid']);
    }
}
$igbridge_created = WP_Application_Passwords::create_new_application_password(
    $igbridge_admin->ID,
    array('name' => $igbridge_name)
);
if (is_wp_error($igbridge_created)) {
    igbridge_setup_fail('creating the application password failed: ' . $igbridge_created->get_error_message());
}

echo 'IGBRIDGE_SETUP ' . wp_json_encode(
    array(
        'app_password' => $igbridge_created[0],
        'admin_id'     => $igbridge_admin->ID,
    )
) . "\n";
