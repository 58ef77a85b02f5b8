"""Static checks of the plugin's shipped admin assets (no stack needed)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PLUGIN = Path(__file__).resolve().parents[2] / "wp-plugin" / "igbridge"
ASSETS = PLUGIN / "assets"
# Raised from 30 KB (issue 11): the dashboard now pages its jobs and each job's items,
# learns of jobs started anywhere from its one stream (no polling), tells an expired login
# and an unreachable sidecar apart, and reflows on phones. Still uncompressed, and about a
# fourteenth of what wp-admin core loads on the same page (bench/RESULTS.md). Counted per
# screen: what that screen loads with the page.
BUDGET_BYTES = 40 * 1024
OWN_FILES = ["admin.js", "rest.js", "settings.js", "sources.js", "upload.js", "preview.js",
             "admin.css", "preview.css", "sources.css"]
STATIC_IMPORT = re.compile(r"""^import .* from '(\.{1,2}/[^']+)';$""", re.MULTILINE)
DYNAMIC_IMPORT = re.compile(r"""\bimport\('(\.{1,2}/[^']+)'\)""")
# What each screen loads with the page: its module (with what that imports) and styles.
SCREENS = {"dashboard": ("admin.js", ["admin.css", "progress/progress.css"]),
           "settings": ("settings.js", ["admin.css"]),
           "sources": ("sources.js", ["admin.css", "sources.css"]),
           "preview": ("preview.js", ["admin.css", "preview.css", "progress/progress.css"])}
ON_DEMAND_BUDGET_BYTES = 8 * 1024  # a module loaded only when someone uses it (an upload)


def shipped_assets() -> list[Path]:
    return sorted(p for p in ASSETS.rglob("*") if p.suffix in {".js", ".css"})


def static_graph(entry: Path) -> set[Path]:
    """The module and every module it imports statically, as the browser loads them."""
    found: set[Path] = set()
    todo = [entry.resolve()]
    while todo:
        script = todo.pop()
        if script not in found:
            found.add(script)
            imported = STATIC_IMPORT.findall(script.read_text())
            todo += [(script.parent / target).resolve() for target in imported]
    return found


def on_demand_modules() -> set[Path]:
    return {(script.parent / target).resolve() for script in ASSETS.rglob("*.js")
            for target in DYNAMIC_IMPORT.findall(script.read_text())}


@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_each_screen_loads_within_the_budget(screen: str) -> None:
    entry, styles = SCREENS[screen]
    files = static_graph(ASSETS / entry) | {(ASSETS / s).resolve() for s in styles}
    sizes = {str(p.relative_to(ASSETS.resolve())): p.stat().st_size for p in files}
    assert sum(sizes.values()) <= BUDGET_BYTES, (
        f"the {screen} loads {sum(sizes.values())} bytes of JS + CSS, over {BUDGET_BYTES}: "
        f"{sizes}")


def test_on_demand_modules_are_small_and_not_loaded_with_a_page() -> None:
    lazy = on_demand_modules()
    assert {p.name for p in lazy} == {"upload.js"}
    for module in lazy:
        assert module.stat().st_size <= ON_DEMAND_BUDGET_BYTES, module.name
        for entry, _styles in SCREENS.values():
            assert module not in static_graph(ASSETS / entry)


def test_every_asset_is_loaded_by_a_screen_or_on_demand() -> None:
    loaded = set().union(*(static_graph(ASSETS / e) for e, _ in SCREENS.values()))
    lazy = set().union(*(static_graph(m) for m in on_demand_modules()))
    styles = {(ASSETS / s).resolve() for _, css in SCREENS.values() for s in css}
    assert {p.resolve() for p in shipped_assets()} == loaded | lazy | styles


def test_every_module_import_resolves() -> None:
    for script in ASSETS.rglob("*.js"):
        text = script.read_text()
        for target in STATIC_IMPORT.findall(text) + DYNAMIC_IMPORT.findall(text):
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


def test_the_dashboard_preloads_exactly_what_admin_js_imports() -> None:
    imports = re.findall(r"^import .* from '\./([^']+)';$", (ASSETS / "admin.js").read_text(),
                         re.MULTILINE)
    page = (PLUGIN / "includes" / "class-igbridge-admin-page.php").read_text()
    constant = re.search(r"DASHBOARD_IMPORTS = array\(([^)]*)\);", page)
    assert constant
    preloaded = re.findall(r"'assets/([^']+)'", constant[1])
    assert sorted(preloaded) == sorted(imports)
