"""Static checks of the plugin's shipped admin assets (no stack needed)."""

from __future__ import annotations

import re
from pathlib import Path

PLUGIN = Path(__file__).resolve().parents[2] / "wp-plugin" / "igbridge"
ASSETS = PLUGIN / "assets"
BUDGET_BYTES = 30 * 1024
OWN_FILES = ["admin.js", "rest.js", "settings.js", "sources.js", "admin.css"]
# What each screen loads besides the shared rest.js and admin.css; the budget holds
# for each screen (a screen never loads another's script).
SCREENS = {"dashboard": ["admin.js", "progress/*"], "settings": ["settings.js"],
           "sources": ["sources.js"]}


def shipped_assets() -> list[Path]:
    return sorted(p for p in ASSETS.rglob("*") if p.suffix in {".js", ".css"})


def test_admin_js_and_css_fit_the_budget() -> None:
    listed = set()
    for screen, patterns in SCREENS.items():
        files = {p for pattern in ["rest.js", "admin.css", *patterns]
                 for p in ASSETS.glob(pattern) if p.suffix in {".js", ".css"}}
        listed |= files
        sizes = {str(p.relative_to(ASSETS)): p.stat().st_size for p in sorted(files)}
        assert sum(sizes.values()) <= BUDGET_BYTES, (
            f"the {screen} screen's JS + CSS is {sum(sizes.values())} bytes, over "
            f"{BUDGET_BYTES}: {sizes}")
    assert listed == set(shipped_assets()), "an asset no screen is said to load"


def test_every_module_import_resolves() -> None:
    for script in ASSETS.rglob("*.js"):
        for target in re.findall(r"""^import .* from '(\.{1,2}/[^']+)';$""", script.read_text(),
                                 re.MULTILINE):
            assert (script.parent / target).is_file(), f"{script.name} imports missing {target}"


def test_own_assets_make_no_third_party_requests() -> None:
    # The sidecar and WordPress URLs come from config; nothing else is fetched.
    for name in OWN_FILES:
        text = (ASSETS / name).read_text()
        assert not re.search(r"https?://", text), f"{name} names a URL"
        assert "innerHTML" not in text, f"{name} uses innerHTML"


def test_versions_agree() -> None:
    header = (PLUGIN / "igbridge.php").read_text()
    readme = (PLUGIN / "readme.txt").read_text()
    version = re.search(r"^ \* Version:\s+(\S+)$", header, re.MULTILINE)
    stable = re.search(r"^Stable tag:\s+(\S+)$", readme, re.MULTILINE)
    constant = re.search(r"define\('IGBRIDGE_VERSION', '([^']+)'\)", header)
    found = [match[1] if match else None for match in (version, stable, constant)]
    assert found == ["0.1.0", "0.1.0", "0.1.0"]
    tags = re.search(r"^Tags:\s+(.+)$", readme, re.MULTILINE)
    assert tags
    assert len(tags[1].split(",")) <= 5
