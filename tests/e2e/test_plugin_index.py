"""The plugin's index table against a real WordPress on MariaDB.

``{prefix}igbridge_source_posts`` maps each Instagram source id to its post, with the
source id as the primary (so UNIQUE) key: created by activation through dbDelta,
rebuilt from the ``_igbridge_source_id`` meta when the stored schema version is not
the code's, used by the ``igbridge_source_id`` lookup and the 409 guard, and dropped
by uninstall. A second post for one source id is refused by the database itself, even
when two creates race.
"""

from __future__ import annotations

import functools
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from dev.stack import Stack, StackError

TABLE = "wp_igbridge_source_posts"


@pytest.fixture(scope="module")
def admin(stack: Stack) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=f"{stack.wp_url}/wp-json", timeout=60,
                      headers={"Authorization": stack.wp_basic_auth}) as client:
        yield client


def new_source_id() -> str:
    return f"ig_{uuid.uuid4().hex}"


def rows(stack: Stack, source_id: str) -> list[int]:
    """The post ids the index holds for ``source_id``."""
    out = stack.mysql(f"SELECT post_id FROM {TABLE} WHERE source_id = '{source_id}'")
    return [int(line) for line in out.split()]


def create(admin: httpx.Client, source_id: str, **fields: Any) -> httpx.Response:
    return admin.post("/wp/v2/posts", json={
        "title": "from Instagram", "status": "draft",
        "meta": {"_igbridge_source_id": source_id}, **fields})


def lookup(admin: httpx.Client, *source_ids: str) -> list[tuple[int, str]]:
    """(post id, status) of what the importer's lookup finds, oldest first."""
    ids: str | list[str] = source_ids[0] if len(source_ids) == 1 else list(source_ids)
    key = "igbridge_source_id" + ("" if isinstance(ids, str) else "[]")
    reply = admin.get("/wp/v2/posts", params={key: ids, "status": "any", "context": "edit",
                                              "orderby": "id", "order": "asc",
                                              "_fields": "id,status"})
    assert reply.status_code == 200, reply.text
    return [(p["id"], p["status"]) for p in reply.json()]


def race(stack: Stack, senders: int,
         send: Callable[[httpx.Client], httpx.Response]) -> list[httpx.Response]:
    """``send`` from ``senders`` threads at once, each on its own connection."""
    start = threading.Barrier(senders)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def one() -> None:
        with httpx.Client(base_url=f"{stack.wp_url}/wp-json", timeout=60,
                          headers={"Authorization": stack.wp_basic_auth}) as own:
            start.wait()
            reply = send(own)
        with lock:
            answers.append(reply)

    threads = [threading.Thread(target=one) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(answers) == senders, "a sender did not finish"
    return answers


def test_the_table_has_a_primary_key_on_the_source_id(stack: Stack) -> None:
    keys = stack.mysql(f"SHOW INDEX FROM {TABLE}")
    described = sorted((line.split("\t")[2], line.split("\t")[4], line.split("\t")[1])
                       for line in keys.splitlines())
    # (key name, column, non_unique)
    assert described == [("PRIMARY", "source_id", "0"), ("post_id", "post_id", "1")]
    collation = stack.mysql(
        "SELECT COLLATION_NAME FROM information_schema.COLUMNS "
        f"WHERE TABLE_NAME = '{TABLE}' AND COLUMN_NAME = 'source_id'").strip()
    assert collation.endswith("_bin"), collation  # short codes differ by case alone


def test_a_rest_create_is_indexed_and_found_through_the_index(
        stack: Stack, admin: httpx.Client) -> None:
    first, second = new_source_id(), new_source_id()
    made = [create(admin, first).json()["id"], create(admin, second).json()["id"]]
    assert (rows(stack, first), rows(stack, second)) == ([made[0]], [made[1]])
    assert lookup(admin, first) == [(made[0], "draft")]
    assert lookup(admin, first, second, new_source_id()) == [(made[0], "draft"),
                                                             (made[1], "draft")]
    assert lookup(admin, new_source_id()) == []


def test_the_lookup_is_answered_by_the_index_not_the_meta(
        stack: Stack, admin: httpx.Client) -> None:
    """A meta value the index does not hold is not found: the lookup reads the table."""
    source_id = new_source_id()
    post_id = create(admin, source_id).json()["id"]
    stack.mysql(f"DELETE FROM {TABLE} WHERE post_id = {post_id}")
    assert lookup(admin, source_id) == []
    stack.mysql(f"INSERT INTO {TABLE} (source_id, post_id) VALUES ('{source_id}', {post_id})")
    assert lookup(admin, source_id) == [(post_id, "draft")]


def test_a_second_create_is_refused_with_the_first_post(admin: httpx.Client) -> None:
    source_id = new_source_id()
    first = create(admin, source_id)
    again = create(admin, source_id, status="publish")
    assert first.status_code == 201
    assert again.status_code == 409, again.text
    assert again.json()["code"] == "igbridge_source_exists"
    assert again.json()["data"] == {"status": 409, "post_id": first.json()["id"],
                                    "post_status": "draft"}


def test_the_unique_key_refuses_a_second_row_in_the_database(stack: Stack,
                                                             admin: httpx.Client) -> None:
    source_id = new_source_id()
    post_id = create(admin, source_id).json()["id"]
    with pytest.raises(StackError, match="Duplicate entry"):
        stack.mysql(f"INSERT INTO {TABLE} (source_id, post_id) VALUES ('{source_id}', "
                    f"{post_id + 1})")
    assert rows(stack, source_id) == [post_id]


def test_racing_creates_of_one_source_id_make_exactly_one_post(
        stack: Stack, admin: httpx.Client) -> None:
    """Eight creates of one id at once, as two sidecars (or a retry that crossed its
    lost answer) might send them: one post, seven 409s naming it, one row."""
    for _round in range(3):
        source_id = new_source_id()
        answers = race(stack, 8, functools.partial(create, source_id=source_id))
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] + [409] * 7, [a.text[:200] for a in answers]
        [winner] = [a.json()["id"] for a in answers if a.status_code == 201]
        assert {a.json()["data"]["post_id"] for a in answers if a.status_code == 409} == {winner}
        assert lookup(admin, source_id) == [(winner, "draft")]
        assert rows(stack, source_id) == [winner]


def test_racing_batches_make_one_post_per_source_id(stack: Stack, admin: httpx.Client) -> None:
    """Two /batch/v1 requests creating the same five posts at once (the importer's wave)."""
    ids = [new_source_id() for _ in range(5)]
    body = {"validation": "normal", "requests": [
        {"method": "POST", "path": "/wp/v2/posts",
         "body": {"title": "t", "status": "draft", "meta": {"_igbridge_source_id": sid}}}
        for sid in ids]}
    answers = race(stack, 2, lambda own: own.post("/batch/v1", json=body))
    assert [a.status_code for a in answers] == [207, 207], [a.text[:300] for a in answers]
    replies = [a.json() for a in answers]
    for n, sid in enumerate(ids):
        statuses = sorted(r["responses"][n]["status"] for r in replies)
        assert statuses == [201, 409], (sid, statuses)
        [post_id] = [r["responses"][n]["body"]["id"] for r in replies
                     if r["responses"][n]["status"] == 201]
        assert lookup(admin, sid) == [(post_id, "draft")]


def test_a_failed_create_leaves_no_claim(stack: Stack, admin: httpx.Client) -> None:
    """A create that wp_insert_post refuses after the claim (here: no title, content
    or excerpt) rolls the claim back, so the id can still be imported."""
    source_id = new_source_id()
    refused = create(admin, source_id, title="", content="", excerpt="")
    assert (refused.status_code, refused.json()["code"]) == (400, "empty_content"), refused.text
    assert rows(stack, source_id) == []
    assert create(admin, source_id).status_code == 201


def test_a_trashed_post_keeps_its_row_and_is_found(stack: Stack, admin: httpx.Client) -> None:
    source_id = new_source_id()
    post_id = create(admin, source_id, status="publish").json()["id"]
    assert admin.delete(f"/wp/v2/posts/{post_id}").status_code == 200  # to the trash
    assert lookup(admin, source_id) == [(post_id, "trash")]
    again = create(admin, source_id)
    assert (again.status_code, again.json()["data"]["post_status"]) == (409, "trash")


def test_a_post_deleted_for_good_keeps_its_source_id_until_restored(
    stack: Stack, admin: httpx.Client,
) -> None:
    """Deleted stays deleted (issue 14): the row stays, marked; a create of that source
    id is refused until "restore deleted posts" forgets it."""
    source_id = new_source_id()
    post_id = create(admin, source_id).json()["id"]
    deleted = admin.delete(f"/wp/v2/posts/{post_id}", params={"force": "true"})
    assert deleted.status_code == 200, deleted.text
    assert rows(stack, source_id) == [post_id]
    assert lookup(admin, source_id) == []
    known = admin.get("/igbridge/v1/deleted", params={"source_ids[]": [source_id, "other"]})
    assert list(known.json()["deleted"]) == [source_id]
    refused = create(admin, source_id)
    assert (refused.status_code, refused.json()["code"], refused.json()["data"]) == (
        409, "igbridge_source_deleted", {"status": 409, "post_id": 0, "post_status": "deleted"})

    assert admin.post("/igbridge/v1/deleted/restore", json={}).json()["restored"] >= 1
    assert rows(stack, source_id) == []
    remade = create(admin, source_id)
    assert remade.status_code == 201
    assert rows(stack, source_id) == [remade.json()["id"]]


def test_meta_written_outside_rest_is_indexed(stack: Stack, admin: httpx.Client) -> None:
    source_id, renamed = new_source_id(), new_source_id()
    post_id = int(stack.wp_php(
        "echo wp_insert_post(array('post_title' => 'scripted', 'post_status' => 'draft',"
        f" 'meta_input' => array('_igbridge_source_id' => {json.dumps(source_id)})));"))
    assert rows(stack, source_id) == [post_id]
    stack.wp_php(f"update_post_meta({post_id}, '_igbridge_source_id', {json.dumps(renamed)});")
    assert (rows(stack, source_id), rows(stack, renamed)) == ([], [post_id])
    stack.wp_php(f"delete_post_meta({post_id}, '_igbridge_source_id');")
    assert rows(stack, renamed) == []


def test_an_upgrade_backfills_the_index_from_the_meta(stack: Stack, admin: httpx.Client) -> None:
    """A site whose posts were imported before the table existed: a new schema version
    makes the next request build it, the oldest post winning where two share an id."""
    shared, alone = new_source_id(), new_source_id()
    made = json.loads(stack.wp_php(f"""
remove_all_actions('added_post_meta');  // as the plugin before the index: meta only
$ids = array();
foreach (array({json.dumps(shared)}, {json.dumps(shared)}, {json.dumps(alone)}) as $sid) {{
    $ids[] = wp_insert_post(array('post_title' => 'old import', 'post_status' => 'publish',
        'meta_input' => array('_igbridge_source_id' => $sid)));
}}
echo wp_json_encode($ids);
""").strip())
    assert (rows(stack, shared), rows(stack, alone)) == ([], [])
    stack.mysql(f"DROP TABLE {TABLE}")
    stack.mysql("UPDATE wp_options SET option_value = '0' "
                "WHERE option_name = 'igbridge_schema_version'")
    stack.wp_php("wp_cache_flush();")
    assert lookup(admin, shared, alone) == [(made[0], "publish"), (made[2], "publish")]
    assert (rows(stack, shared), rows(stack, alone)) == ([made[0]], [made[2]])
    version = stack.mysql("SELECT option_value FROM wp_options "
                          "WHERE option_name = 'igbridge_schema_version'").strip()
    assert version == stack.wp_php("echo IGBridge_Index::SCHEMA_VERSION;").strip()
    assert stack.mysql(f"SHOW TABLES LIKE '{TABLE}'").strip() == TABLE
