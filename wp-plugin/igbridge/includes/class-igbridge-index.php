<?php

/**
 * The plugin's own index: which post each Instagram source id became.
 *
 * @package igbridge
 */

if (! defined('ABSPATH')) {
    exit;
}

/**
 * One row per imported post in `{prefix}igbridge_source_posts`, the source id its
 * primary key. Two reasons for a table of its own instead of the
 * `_igbridge_source_id` meta alone: a lookup by `meta_value` scans an unindexed
 * column (a site with thousands of imported posts slows every import down), and a
 * UNIQUE key makes a second post for one source id impossible in the database
 * itself, even when two sidecars create it at the same moment.
 *
 * A REST create claims its source id inside a transaction that also holds the
 * insert of the post: a second create of the same id waits on the row lock and is
 * then refused with 409 naming the winner's post. The meta stays (older sidecars
 * and other tools read it); rows follow it. A trashed post keeps its row: it is
 * still in WordPress, and the owner may restore it. A post deleted for good keeps
 * its row too, with `deleted_at` set (IGBridge_Deleted): deleted stays deleted, and
 * a create of its source id is refused until the owner restores deleted posts.
 */
class IGBridge_Index
{
    /** Bump when the table's shape changes: dbDelta then upgrades it on the next load. */
    public const SCHEMA_VERSION = '2';
    public const VERSION_OPTION = 'igbridge_schema_version';
    public const TABLE          = 'igbridge_source_posts';
    /** Longest source id the index holds (an utf8mb4 key of 191 characters fits every MySQL). */
    public const MAX_SOURCE_ID  = 191;

    /** Source id claimed by the create request in progress in this PHP process, if any. */
    private static ?string $claimed = null;

    /**
     * Hooks this class into WordPress.
     */
    public static function register_hooks(): void
    {
        register_activation_hook(IGBRIDGE_FILE, array(self::class, 'install'));
        // An already active plugin updated in place gets no activation: check the version.
        add_action('init', array(self::class, 'upgrade_if_needed'), 1);
        // finish_claim() is hooked on each post type's rest_insert_{type} (IGBridge_Meta).
        add_filter('rest_request_after_callbacks', array(self::class, 'release_claim'), 1);
        add_action('added_post_meta', array(self::class, 'meta_written'), 10, 4);
        add_action('updated_post_meta', array(self::class, 'meta_written'), 10, 4);
        add_action('deleted_post_meta', array(self::class, 'meta_deleted'), 10, 4);
        add_action('deleted_post', array(self::class, 'post_deleted'));
    }

    /** The table's full name. */
    public static function table(): string
    {
        global $wpdb;
        return $wpdb->prefix . self::TABLE;
    }

    /**
     * Creates or upgrades the table through dbDelta and fills it from the meta.
     */
    public static function install(): void
    {
        global $wpdb;
        require_once ABSPATH . 'wp-admin/includes/upgrade.php';
        $table   = self::table();
        $charset = $wpdb->charset ? $wpdb->charset : 'utf8mb4';
        // A binary collation: Instagram's short codes differ by case alone ("Ab" is not "aB").
        // dbDelta wants two spaces after PRIMARY KEY and one field per line.
        dbDelta(
            "CREATE TABLE {$table} (
  source_id varchar(" . self::MAX_SOURCE_ID . ") CHARACTER SET {$charset} COLLATE {$charset}_bin NOT NULL,
  post_id bigint(20) unsigned NOT NULL,
  deleted_at datetime DEFAULT NULL,
  PRIMARY KEY  (source_id),
  KEY post_id (post_id)
) " . $wpdb->get_charset_collate() . ';'
        );
        self::backfill();
        update_option(self::VERSION_OPTION, self::SCHEMA_VERSION);
    }

    /**
     * Runs install() when the stored schema version is not this code's.
     */
    public static function upgrade_if_needed(): void
    {
        if (get_option(self::VERSION_OPTION) !== self::SCHEMA_VERSION) {
            self::install();
        }
    }

    /**
     * Adds a row for every post that has the source meta but no row yet (the oldest
     * post wins where an older version let two posts share one id).
     */
    public static function backfill(): void
    {
        global $wpdb;
        $table = self::table();
        // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- table names cannot be placeholders
        $wpdb->query(
            $wpdb->prepare(
                "INSERT IGNORE INTO {$table} (source_id, post_id)
                 SELECT m.meta_value, MIN(m.post_id) FROM {$wpdb->postmeta} m
                 JOIN {$wpdb->posts} p ON p.ID = m.post_id
                 WHERE m.meta_key = %s AND m.meta_value <> '' AND CHAR_LENGTH(m.meta_value) <= %d
                 GROUP BY m.meta_value",
                IGBridge_Meta::SOURCE_ID_KEY,
                self::MAX_SOURCE_ID
            )
        );
    }

    /**
     * The post ids of these source ids, in one indexed query.
     *
     * @param list<string> $source_ids Source ids.
     * @return array<string, int> Source id => post id, for the ids that have a post.
     */
    public static function post_ids(array $source_ids): array
    {
        global $wpdb;
        if (array() === $source_ids) {
            return array();
        }
        $table        = self::table();
        $placeholders = implode(',', array_fill(0, count($source_ids), '%s'));
        // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- placeholders built above
        $rows = $wpdb->get_results(
            $wpdb->prepare("SELECT source_id, post_id FROM {$table} WHERE source_id IN ({$placeholders}) AND post_id > 0 AND deleted_at IS NULL", $source_ids),
            ARRAY_A
        );
        $found = array();
        foreach ((array) $rows as $row) {
            $found[(string) $row['source_id']] = (int) $row['post_id'];
        }
        return $found;
    }

    /**
     * Claims `$source_id` for the post about to be inserted, or says who has it.
     *
     * Opens a transaction and inserts the row (post id 0 until the post exists). The
     * UNIQUE key refuses a second claim: a concurrent one waits on the row lock until
     * this transaction ends, then fails. finish_claim() commits once the post exists;
     * release_claim() rolls back if the create failed.
     *
     * @param string $source_id The source id the new post will carry.
     * @return true|WP_Error True when claimed; a 409 naming the post that has it, or a
     *                       503 when another request is creating it right now.
     */
    public static function claim(string $source_id)
    {
        global $wpdb;
        if (strlen($source_id) > self::MAX_SOURCE_ID) {
            return new WP_Error(
                'igbridge_source_id_too_long',
                sprintf(
                    /* translators: %d: the longest source id the plugin stores */
                    __('A source id may be at most %d characters long.', 'igbridge'),
                    self::MAX_SOURCE_ID
                ),
                array('status' => 400)
            );
        }
        self::rollback_claim(); // a claim left open by an earlier create in this process
        $table      = self::table();
        $suppressed = $wpdb->suppress_errors(true);
        $wpdb->query('START TRANSACTION');
        // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- table name
        $inserted = $wpdb->query($wpdb->prepare("INSERT INTO {$table} (source_id, post_id) VALUES (%s, 0)", $source_id));
        $error    = $wpdb->last_error;
        $wpdb->suppress_errors($suppressed);
        if (1 === $inserted) {
            self::$claimed = $source_id;
            return true;
        }
        $wpdb->query('ROLLBACK');
        if (IGBridge_Deleted::is_deleted($source_id)) {
            return IGBridge_Deleted::deleted_error($source_id);
        }
        $holder = self::post_ids(array($source_id))[$source_id] ?? 0;
        if ($holder > 0) {
            return self::exists_error($source_id, $holder);
        }
        // A holder not committed yet (a table without transactions), or a lock wait that timed out.
        return new WP_Error(
            'igbridge_source_busy',
            sprintf(
                /* translators: 1: Instagram source id, 2: database error */
                __('Another request is creating the post of %1$s right now; try again (%2$s).', 'igbridge'),
                $source_id,
                '' !== $error ? $error : 'no row'
            ),
            array('status' => 503)
        );
    }

    /**
     * The 409 answer for a source id that has a post already: the importer reads
     * `post_id` and `post_status` (a post in the trash is not brought back).
     *
     * @param string $source_id The source id.
     * @param int    $post_id   The post that has it.
     */
    public static function exists_error(string $source_id, int $post_id): WP_Error
    {
        return new WP_Error(
            'igbridge_source_exists',
            sprintf(
                /* translators: 1: Instagram source id, 2: post id */
                __('A post imported from %1$s exists already (post %2$d).', 'igbridge'),
                $source_id,
                $post_id
            ),
            array(
                'status'      => 409,
                'post_id'     => $post_id,
                'post_status' => (string) get_post_status($post_id),
            )
        );
    }

    /**
     * The claimed post now exists: record its id and commit claim and post together.
     *
     * @param WP_Post         $post     The inserted post.
     * @param WP_REST_Request $request  The REST request.
     * @param bool            $creating Whether the post was just created.
     */
    public static function finish_claim(WP_Post $post, WP_REST_Request $request, bool $creating): void
    {
        global $wpdb;
        unset($request);
        if (! $creating || null === self::$claimed) {
            return;
        }
        $table = self::table();
        // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- table name
        $wpdb->query($wpdb->prepare("UPDATE {$table} SET post_id = %d WHERE source_id = %s", $post->ID, self::$claimed));
        $wpdb->query('COMMIT');
        self::$claimed = null;
    }

    /**
     * After every REST callback (each request of a batch too): a claim still open
     * means the create failed before the post existed; undo it.
     *
     * @param mixed $response The callback's response, passed through.
     * @return mixed
     */
    public static function release_claim($response)
    {
        self::rollback_claim();
        return $response;
    }

    /** Rolls back an open claim, if any. */
    private static function rollback_claim(): void
    {
        global $wpdb;
        if (null !== self::$claimed) {
            $wpdb->query('ROLLBACK');
            self::$claimed = null;
        }
    }

    /**
     * The source meta was written outside a REST create (a script, an import of posts,
     * an edit): index it. The first post to hold an id keeps it.
     *
     * @param int    $meta_id    Meta row id.
     * @param int    $post_id    Post id.
     * @param string $meta_key   Meta key.
     * @param mixed  $meta_value Meta value.
     */
    public static function meta_written(int $meta_id, int $post_id, string $meta_key, $meta_value): void
    {
        global $wpdb;
        unset($meta_id);
        if (IGBridge_Meta::SOURCE_ID_KEY !== $meta_key) {
            return;
        }
        $source_id = is_scalar($meta_value) ? (string) $meta_value : '';
        $table     = self::table();
        // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- table name
        $wpdb->query($wpdb->prepare("DELETE FROM {$table} WHERE post_id = %d AND source_id <> %s", $post_id, $source_id));
        if ('' !== $source_id && strlen($source_id) <= self::MAX_SOURCE_ID) {
            // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- table name
            $wpdb->query($wpdb->prepare("INSERT IGNORE INTO {$table} (source_id, post_id) VALUES (%s, %d)", $source_id, $post_id));
        }
    }

    /**
     * The source meta of posts was deleted: they are no longer imports of anything.
     *
     * @param list<int>|int $meta_ids   Meta row ids.
     * @param int           $post_id    Post id.
     * @param string        $meta_key   Meta key.
     * @param mixed         $meta_value Meta value.
     */
    public static function meta_deleted($meta_ids, int $post_id, string $meta_key, $meta_value): void
    {
        unset($meta_ids, $meta_value);
        if (IGBridge_Meta::SOURCE_ID_KEY === $meta_key) {
            self::post_deleted($post_id);
        }
    }

    /**
     * A post that is no import any more (its source meta removed) frees its source id;
     * the row of a post its owner deleted stays, marked (IGBridge_Deleted).
     *
     * @param int $post_id Post id.
     */
    public static function post_deleted(int $post_id): void
    {
        global $wpdb;
        $table = self::table();
        // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared -- table name
        $wpdb->query($wpdb->prepare("DELETE FROM {$table} WHERE post_id = %d AND deleted_at IS NULL", $post_id));
    }

    /**
     * Drops the table and its version (uninstall.php).
     */
    public static function uninstall(): void
    {
        global $wpdb;
        $table = self::table();
        // phpcs:ignore WordPress.DB.PreparedSQL.InterpolatedNotPrepared, WordPress.DB.DirectDatabaseQuery.SchemaChange
        $wpdb->query("DROP TABLE IF EXISTS {$table}");
        delete_option(self::VERSION_OPTION);
    }
}
