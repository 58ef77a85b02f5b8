<?php

/**
 * The "Sources" screen: saved Instagram accounts, their mapping and schedule (issue 14).
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * A submenu of "Instagram Import". The markup is static; assets/sources.js fills the
 * list from igbridge/v1/sources and sends the form there. Categories and authors for
 * the form are handed over as JSON with the script.
 */
class IGBridge_Sources_Page extends IGBridge_Submenu_Page
{
    public const SLUG   = 'igbridge-sources';
    public const HANDLE = 'igbridge-sources';

    protected const SCRIPT = 'assets/sources.js';

    protected static function title(): string
    {
        return __('Instagram sources', 'igbridge');
    }

    protected static function menu_title(): string
    {
        return __('Sources', 'igbridge');
    }

    protected static function enqueue_styles(): void
    {
        wp_enqueue_style('igbridge-sources', IGBRIDGE_URL . 'assets/sources.css', array('igbridge-admin'), IGBRIDGE_VERSION);
    }

    /**
     * The form's choices (categories, authors, post types) and where a preview opens.
     *
     * @return array<string, mixed>
     */
    protected static function config(): array
    {
        $categories = array();
        foreach (get_categories(array('hide_empty' => false)) as $category) {
            $categories[] = array('id' => (int) $category->term_id, 'name' => $category->name);
        }
        $authors = array();
        foreach (get_users(array('capability' => 'edit_posts', 'fields' => array('ID', 'display_name'))) as $user) {
            $authors[] = array('id' => (int) $user->ID, 'name' => $user->display_name);
        }
        $post_types = array();
        foreach (IGBridge_Meta::post_types() as $type) {
            $object = get_post_type_object($type);
            if (null !== $object && is_post_type_viewable($object)) {
                $post_types[] = array('name' => $type, 'label' => $object->labels->singular_name);
            }
        }
        return array(
            'categories' => $categories,
            'authors'    => $authors,
            'previewUrl' => esc_url_raw(IGBridge_Preview_Page::url()),
            'postTypes'  => $post_types,
        );
    }

    /**
     * The strings assets/sources.js shows.
     *
     * @return array<string, string>
     */
    public static function strings(): array
    {
        return array(
            'src_none'          => __('No saved sources yet. Add an Instagram account below.', 'igbridge'),
            'src_never'         => __('never', 'igbridge'),
            'src_not_scheduled' => __('not scheduled', 'igbridge'),
            'src_paused'        => __('paused', 'igbridge'),
            'src_sync'          => __('Sync now', 'igbridge'),
            'src_preview'       => __('Preview', 'igbridge'),
            'src_edit'          => __('Edit', 'igbridge'),
            'src_pause'         => __('Pause', 'igbridge'),
            'src_resume'        => __('Resume', 'igbridge'),
            'src_delete'        => __('Delete', 'igbridge'),
            'src_confirm'       => __('Delete this saved source? Posts already imported stay.', 'igbridge'),
            'src_saved'         => __('Source saved.', 'igbridge'),
            'src_deleted'       => __('Source deleted.', 'igbridge'),
            'src_syncing'       => __('Sync started; follow it on the Instagram Import screen.', 'igbridge'),
            'src_running'       => __('A sync of this source is already running.', 'igbridge'),
            'src_add'           => __('Add source', 'igbridge'),
            'src_update'        => __('Save changes', 'igbridge'),
            /* translators: %d: number of posts forgotten */
            'src_restored'      => __('%d deleted post(s) will be imported again by the next sync.', 'igbridge'),
            'src_restore_ask'   => __('Forget every post deleted in WordPress, so that syncs and imports bring them back?', 'igbridge'),
            'src_repair'        => __('Repair', 'igbridge'),
            'src_repairing'     => __('Repair started: missing media are uploaded again and changed captions updated; follow it on the Instagram Import screen.', 'igbridge'),
            'src_preview_none'  => __('none', 'igbridge'),
            'src_preview_from'  => __('Preview of your newest imported post', 'igbridge'),
            'src_preview_sample' => __('Preview of a sample post', 'igbridge'),
        );
    }

    /**
     * Prints the list of sources and the form.
     */
    protected static function render_content(): void
    {
        ?>
    <table class="widefat striped igbridge-sources">
        <thead><tr>
            <th scope="col"><?php echo esc_html__('Account', 'igbridge'); ?></th>
            <th scope="col"><?php echo esc_html__('Last sync', 'igbridge'); ?></th>
            <th scope="col"><?php echo esc_html__('Next run', 'igbridge'); ?></th>
            <th scope="col"><?php echo esc_html__('Actions', 'igbridge'); ?></th>
        </tr></thead>
        <tbody id="igbridge-sources-body">
            <tr class="igbridge-empty"><td colspan="4"><?php echo esc_html__('Loading sources…', 'igbridge'); ?></td></tr>
        </tbody>
    </table>
    <p><button type="button" class="button" id="igbridge-restore-deleted"><?php echo esc_html__('Restore deleted posts', 'igbridge'); ?></button></p>

    <h2 id="igbridge-source-form-title"><?php echo esc_html__('Add an Instagram account', 'igbridge'); ?></h2>
    <form id="igbridge-source-form" class="igbridge-source-form">
        <input type="hidden" name="source_id" value="" />
        <table class="form-table" role="presentation"><tbody>
            <tr><th scope="row"><label for="igbridge-src-username"><?php echo esc_html__('Username', 'igbridge'); ?></label></th>
                <td><input type="text" id="igbridge-src-username" name="username" class="regular-text" required
                    pattern="@?[A-Za-z0-9._]{1,30}" placeholder="@username" autocomplete="off" /></td></tr>
            <tr><th scope="row"><label for="igbridge-src-limit"><?php echo esc_html__('Posts per sync (at most)', 'igbridge'); ?></label></th>
                <td><input type="number" id="igbridge-src-limit" name="limit" class="small-text" min="1" max="10000" value="20" /></td></tr>
            <tr><th scope="row"><label for="igbridge-src-post-type"><?php echo esc_html__('Post type', 'igbridge'); ?></label></th>
                <td><select id="igbridge-src-post-type" name="post_type"></select></td></tr>
            <tr><th scope="row"><label for="igbridge-src-status"><?php echo esc_html__('Post status', 'igbridge'); ?></label></th>
                <td><select id="igbridge-src-status" name="status">
                    <option value="publish"><?php echo esc_html__('Published', 'igbridge'); ?></option>
                    <option value="draft"><?php echo esc_html__('Draft', 'igbridge'); ?></option>
                    <option value="pending"><?php echo esc_html__('Pending review', 'igbridge'); ?></option>
                    <option value="private"><?php echo esc_html__('Private', 'igbridge'); ?></option>
                </select></td></tr>
            <tr><th scope="row"><?php echo esc_html__('Categories', 'igbridge'); ?></th>
                <td><fieldset id="igbridge-src-categories"></fieldset></td></tr>
            <tr><th scope="row"><label for="igbridge-src-author"><?php echo esc_html__('Author', 'igbridge'); ?></label></th>
                <td><select id="igbridge-src-author" name="author_id"><option value=""><?php echo esc_html__('The importing user', 'igbridge'); ?></option></select></td></tr>
            <tr><th scope="row"><label for="igbridge-src-title-rule"><?php echo esc_html__('Title', 'igbridge'); ?></label></th>
                <td><select id="igbridge-src-title-rule" name="title_rule">
                    <option value="first_line"><?php echo esc_html__('First line of the caption', 'igbridge'); ?></option>
                    <option value="date"><?php echo esc_html__('The date', 'igbridge'); ?></option>
                    <option value="template"><?php echo esc_html__('A template', 'igbridge'); ?></option>
                </select>
                <label><?php echo esc_html__('at most', 'igbridge'); ?> <input type="number" name="title_max_length" class="small-text" min="10" max="200" value="80" /></label>
                <input type="text" name="title_template" class="regular-text" maxlength="300" placeholder="{username} · {date}" /></td></tr>
            <tr><th scope="row"><label for="igbridge-src-content"><?php echo esc_html__('Caption template', 'igbridge'); ?></label></th>
                <td><textarea id="igbridge-src-content" name="content_template" rows="4" class="large-text" maxlength="5000"
                    placeholder="{caption}&#10;&#10;{location}&#10;&#10;{link}"></textarea>
                <p class="description"><?php
                    echo esc_html__('Empty: the caption, the place and a link to the original. Placeholders: {caption} {date} {location} {link} {username}.', 'igbridge');
                ?></p></td></tr>
            <tr><th scope="row"><label for="igbridge-src-hashtags"><?php echo esc_html__('Hashtags', 'igbridge'); ?></label></th>
                <td><select id="igbridge-src-hashtags" name="hashtags">
                    <option value="both"><?php echo esc_html__('Tags, and kept in the text', 'igbridge'); ?></option>
                    <option value="tags"><?php echo esc_html__('Tags only', 'igbridge'); ?></option>
                    <option value="text"><?php echo esc_html__('In the text only', 'igbridge'); ?></option>
                </select></td></tr>
            <tr><th scope="row"><label for="igbridge-src-featured"><?php echo esc_html__('Featured image', 'igbridge'); ?></label></th>
                <td><select id="igbridge-src-featured" name="featured">
                    <option value="first"><?php echo esc_html__('The first image', 'igbridge'); ?></option>
                    <option value="none"><?php echo esc_html__('None', 'igbridge'); ?></option>
                </select></td></tr>
            <tr><th scope="row"><?php echo esc_html__('Reels', 'igbridge'); ?></th>
                <td><label><input type="checkbox" name="include_reels" checked /> <?php echo esc_html__('Import reels and videos', 'igbridge'); ?></label></td></tr>
            <tr><th scope="row"><label for="igbridge-src-schedule"><?php echo esc_html__('Sync by itself', 'igbridge'); ?></label></th>
                <td><select id="igbridge-src-schedule" name="every_minutes">
                    <option value=""><?php echo esc_html__('Never (sync by hand)', 'igbridge'); ?></option>
                    <option value="60"><?php echo esc_html__('Hourly', 'igbridge'); ?></option>
                    <option value="360"><?php echo esc_html__('Every 6 hours', 'igbridge'); ?></option>
                    <option value="1440"><?php echo esc_html__('Daily', 'igbridge'); ?></option>
                </select></td></tr>
        </tbody></table>
        <section id="igbridge-src-preview" class="igbridge-src-preview" aria-live="polite">
            <h3 id="igbridge-src-preview-from"></h3>
            <p class="igbridge-src-preview-title"><strong id="igbridge-src-preview-title"></strong></p>
            <dl class="igbridge-src-preview-fields">
                <dt><?php echo esc_html__('Status', 'igbridge'); ?></dt><dd id="igbridge-src-preview-status"></dd>
                <dt><?php echo esc_html__('Categories', 'igbridge'); ?></dt><dd id="igbridge-src-preview-categories"></dd>
                <dt><?php echo esc_html__('Tags', 'igbridge'); ?></dt><dd id="igbridge-src-preview-tags"></dd>
                <dt><?php echo esc_html__('Featured image', 'igbridge'); ?></dt><dd id="igbridge-src-preview-featured"></dd>
            </dl>
            <iframe id="igbridge-src-preview-content" title="<?php echo esc_attr__('Content as imported', 'igbridge'); ?>" sandbox="" referrerpolicy="no-referrer"></iframe>
        </section>
        <p><button type="submit" class="button button-primary" id="igbridge-source-submit"><?php echo esc_html__('Add source', 'igbridge'); ?></button>
            <button type="reset" class="button" id="igbridge-source-reset"><?php echo esc_html__('Clear', 'igbridge'); ?></button></p>
    </form>
        <?php
    }
}
