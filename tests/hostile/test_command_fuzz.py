"""Property: any text typed into the command box parses to a command whose values are
safe to act on, or is refused with the documented ValidationFailed; nothing else."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sidecar.errors import ValidationFailed
from sidecar.jobs.commands import DEFAULT_LIMIT, MAX_LIMIT, ParsedCommand, parse
from tests.hostile.conftest import soak_at_import

# Instagram: 1-30 ASCII letters, digits, "." and "_", not starting or ending with ".".
INSTAGRAM_USERNAME = re.compile(r"(?!\.)[a-z0-9._]{1,30}(?<!\.)", re.ASCII)
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
WORDS = ["scrape", "fetch", "instagram", "bulk", "import", "export", "cancel", "stop", "job",
         "status", "jobs", "list", "limit", "max", "@", ".zip", "..", "'", '"']
# Text that looks like commands: keywords, usernames and numbers in any case and spacing,
# with letters that only match [A-Za-z] case-insensitively (ſ, K, İ) mixed in.
TOKENS = st.sampled_from(WORDS) | st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(
        ["ſ", "\u212a", "\u0130", "ı", "٣", "\u00a0", "\u2028", "\t", "\n"]),
    max_size=12)
COMMANDISH = st.lists(TOKENS, max_size=6).map(" ".join)
SETTINGS = settings(max_examples=20_000 if soak_at_import() else 500, deadline=None)


def check(text: str) -> ParsedCommand | ValidationFailed:
    try:
        command = parse(text)
    except ValidationFailed as caught:
        refused = caught
    else:
        return check_command(command)
    assert (refused.status, refused.code) in ((422, "validation_error"),
                                             (422, "unknown_command"))
    assert refused.message
    assert len(refused.message) < 400  # the echo of the input is cut short
    return refused


def check_command(command: ParsedCommand) -> ParsedCommand:
    assert isinstance(command, ParsedCommand)
    if command.action in ("scrape", "import"):
        assert command.username is not None
        assert INSTAGRAM_USERNAME.fullmatch(command.username), command
        assert command.limit is not None
        assert 1 <= command.limit <= MAX_LIMIT
        assert (command.path, command.job_id) == (None, None)
    elif command.action == "export":
        assert command.path is not None
        assert command.path.lower().endswith(".zip")
        assert command.path == command.path.strip().strip("'\"") or command.path.endswith(
            ("'.zip", '".zip'))
        assert (command.username, command.limit, command.job_id) == (None, None, None)
    elif command.action == "cancel":
        assert command.job_id is not None
        assert JOB_ID.fullmatch(command.job_id), command
    else:
        assert command == ParsedCommand("status")
    return command


@SETTINGS
@given(text=st.text())
def test_any_text(text: str) -> None:
    check(text)


@SETTINGS
@given(text=COMMANDISH)
@example("scrape @ſam")
@example("bulk import @İsa limit 5")
def test_command_like_text(text: str) -> None:
    check(text)


@SETTINGS
@given(
    verb=st.sampled_from(["scrape", "Scrape instagram", "fetch", "import", "bulk import",
                          "BULK IMPORT instagram"]),
    at=st.sampled_from(["", "@"]),
    user=st.from_regex(INSTAGRAM_USERNAME, fullmatch=True),
    upper=st.booleans(),
    limit=st.none() | st.integers(min_value=1, max_value=MAX_LIMIT),
    spaces=st.sampled_from([" ", "  ", "\t", " \u00a0"]),
)
def test_valid_commands_mean_what_they_say(verb: str, at: str, user: str, upper: bool,
                                           limit: int | None, spaces: str) -> None:
    typed = user.upper() if upper else user
    text = f"{verb}{spaces}{at}{typed}" + (f"{spaces}limit {limit}" if limit else "")
    action = "scrape" if verb.lower().startswith(("scrape", "fetch")) else "import"
    assert parse(f"  {text} \n") == ParsedCommand(action, username=user,
                                                  limit=limit or DEFAULT_LIMIT)


@given(limit=st.integers(min_value=MAX_LIMIT + 1, max_value=999_999) | st.just(0))
def test_limits_out_of_range_are_refused_with_the_range(limit: int) -> None:
    with pytest.raises(ValidationFailed, match=f"^limit must be between 1 and {MAX_LIMIT}$"):
        parse(f"scrape @natgeo limit {limit}")


@given(path=st.text(min_size=1, max_size=60).filter(lambda p: p.strip() and "\n" not in p))
def test_export_paths_must_name_a_zip(path: str) -> None:
    result = check(f"import export {path}")
    if isinstance(result, ParsedCommand):
        assert result.action == "export"
