"""docker-compose.yml, the sidecar's Dockerfile and docker/, checked without a Docker engine.

The compose file is validated against the Compose Specification schema vendored in
check-jsonschema (works offline), then resolved the way Compose resolves it (variable
interpolation from .env) and checked for what the schema cannot see: the wiring of
URLs, volumes, secrets and the variables the sidecar reads. The shell scripts are
parsed, and the parts that need no WordPress (argument checks, the settings JSON) run.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml  # type: ignore[import-untyped]

from dev import nginx as dev_nginx
from dev.stack import ADMIN_USER, Stack, StackError, start_stack
from sidecar import config as sidecar_config

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
ENV_EXAMPLE = REPO / ".env.example"
DOCKER_DIR = REPO / "docker"
SETUP_SCRIPT = DOCKER_DIR / "setup.sh"
INIT_ENV_SCRIPT = DOCKER_DIR / "init-env.sh"
PLUGIN_DIR = REPO / "wp-plugin" / "igbridge"
PLUGIN_SETTINGS_PHP = PLUGIN_DIR / "includes" / "class-igbridge-settings.php"
PLUGIN_MOUNT = "/var/www/html/wp-content/plugins/igbridge"
SETTINGS_KEYS = {"public_url", "internal_url", "secret", "apify_limit"}
REQUIRED_SECRETS = ("IGBRIDGE_SECRET", "WP_ADMIN_PASSWORD", "MARIADB_PASSWORD")

# ---------------------------------------------------------------- Compose's interpolation

_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(Exception):
    """A ``${NAME:?message}`` whose variable is unset or empty, as Compose reports it."""


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose's rules: $$, $NAME, ${NAME}, ${NAME:-default}, ${NAME-default},
    ${NAME:?error}, ${NAME?error}."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        present = name in env
        usable = present and env[name] != ""
        if op == ":-":
            return env[name] if usable else arg
        if op == "-":
            return env[name] if present else arg
        if (op == ":?" and not usable) or (op == "?" and not present):
            raise MissingVariable(f"{name}: {arg}")
        return env.get(name, "")

    return _VARIABLE.sub(replace, value)


def resolve(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    if isinstance(node, dict):
        return {key: resolve(value, env) for key, value in node.items()}
    return node


def references(node: Any) -> list[tuple[str, str | None, str]]:
    """Every ``${NAME…}`` in the file as (name, operator, argument)."""
    if isinstance(node, str):
        return [(m["braced"] or m["bare"], m["op"], m["arg"] or "")
                for m in _VARIABLE.finditer(node) if not m["escaped"]]
    if isinstance(node, list):
        return [ref for item in node for ref in references(item)]
    if isinstance(node, dict):
        return [ref for value in node.values() for ref in references(value)]
    return []


def parse_env_file(text: str) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        assert sep, f".env line without '=': {line!r}"
        values[name.strip()] = value
    return values


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return loaded


@pytest.fixture(scope="module")
def example_env() -> dict[str, str]:
    return parse_env_file(ENV_EXAMPLE.read_text())


@pytest.fixture(scope="module")
def filled_env(example_env: dict[str, str]) -> dict[str, str]:
    """.env.example with the required secrets filled in, as docker/init-env.sh does."""
    env = dict(example_env)
    env.update({name: f"test-{name.lower()}" for name in REQUIRED_SECRETS})
    return env


@pytest.fixture(scope="module")
def resolved(compose: dict[str, Any], filled_env: dict[str, str]) -> dict[str, Any]:
    result: dict[str, Any] = resolve(compose, filled_env)
    return result


def service(spec: Mapping[str, Any], name: str) -> dict[str, Any]:
    services = spec["services"]
    assert name in services, f"docker-compose.yml has no service {name!r}"
    result: dict[str, Any] = services[name]
    return result


def environment(svc: Mapping[str, Any]) -> dict[str, str]:
    env = svc.get("environment", {})
    if isinstance(env, list):
        env = dict(item.partition("=")[::2] for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def mounts(svc: Mapping[str, Any]) -> list[tuple[str, str, bool]]:
    """Volumes as (source, target, read_only) from the short syntax."""
    result = []
    for entry in svc.get("volumes", []):
        assert isinstance(entry, str), f"use the short volume syntax: {entry!r}"
        parts = entry.split(":")
        source, target = parts[0], parts[1]
        options = parts[2].split(",") if len(parts) > 2 else []
        result.append((source, target, "ro" in options))
    return result


def mount_at(svc: Mapping[str, Any], target: str) -> tuple[str, bool]:
    for source, mount_target, read_only in mounts(svc):
        if mount_target == target:
            return source, read_only
    raise AssertionError(f"nothing is mounted at {target}; mounts: {mounts(svc)}")


def command_flags(svc: Mapping[str, Any]) -> dict[str, str]:
    command = svc.get("command", [])
    argv = shlex.split(command) if isinstance(command, str) else [str(a) for a in command]
    return {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith("--")}


def php_constant(path: Path, name: str) -> str:
    match = re.search(rf"const\s+{name}\s*=\s*'?([^';]+)'?\s*;", path.read_text())
    assert match, f"{path.name} defines no constant {name}"
    return match.group(1)


def run_check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
         str(path)],
        capture_output=True, text=True, timeout=120, check=False,
    )


# ---------------------------------------------------------------- schema


def test_compose_file_follows_the_compose_specification() -> None:
    result = run_check_jsonschema(COMPOSE_FILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_compose_file(tmp_path: Path) -> None:
    broken = COMPOSE_FILE.read_text().replace("condition: service_healthy",
                                              "condition: service_ready", 1)
    assert broken != COMPOSE_FILE.read_text()
    path = tmp_path / "docker-compose.yml"
    path.write_text(broken)
    result = run_check_jsonschema(path)
    assert result.returncode == 1
    assert "service_ready" in result.stdout


# ---------------------------------------------------------------- services and order


def test_every_dependency_exists_and_waits_for_the_right_state(
        compose: dict[str, Any]) -> None:
    services = compose["services"]
    conditions = {}
    for name, svc in services.items():
        for target, spec in svc.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown service {target}"
            conditions[(name, target)] = spec["condition"]
            if spec["condition"] == "service_healthy":
                has_check = "healthcheck" in services[target] or "build" in services[target]
                assert has_check, f"{name} waits for {target} to be healthy; it has no check"
    assert conditions[("wordpress", "mariadb")] == "service_healthy"
    assert conditions[("setup", "wordpress")] == "service_healthy"
    assert conditions[("sidecar", "setup")] == "service_completed_successfully"
    assert conditions[("wordpress", "volume-init")] == "service_completed_successfully"


def test_one_shot_services_are_never_restarted(compose: dict[str, Any]) -> None:
    for name in ("setup", "volume-init"):
        assert service(compose, name).get("restart", "no") == "no"


def test_images_are_the_official_ones(compose: dict[str, Any]) -> None:
    assert service(compose, "mariadb")["image"].startswith("mariadb:")
    assert re.fullmatch(r"wordpress:6[\w.-]*-php8\.2-apache",
                        service(compose, "wordpress")["image"])
    assert service(compose, "setup")["image"].startswith("wordpress:cli")
    assert service(compose, "sidecar")["build"]["dockerfile"] == "Dockerfile"


def test_mariadb_checks_health_and_keeps_its_data_in_a_named_volume(
        compose: dict[str, Any]) -> None:
    mariadb = service(compose, "mariadb")
    assert mariadb["healthcheck"]["test"] == [
        "CMD", "healthcheck.sh", "--connect", "--innodb_initialized"]
    source, _ = mount_at(mariadb, "/var/lib/mysql")
    assert source in compose["volumes"]


def test_named_volumes_are_declared_and_bind_mounts_exist(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for source, target, _ in mounts(svc):
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name} mounts missing {source} at {target}"
            else:
                assert source in compose["volumes"], f"{name} uses undeclared volume {source}"


def test_entrypoint_scripts_are_in_the_mounted_docker_folder(compose: dict[str, Any]) -> None:
    for name in ("setup", "volume-init"):
        svc = service(compose, name)
        folder, read_only = mount_at(svc, "/opt/igbridge")
        assert (folder, read_only) == ("./docker", True)
        script = next(arg for arg in svc["entrypoint"] if arg.startswith("/opt/igbridge/"))
        assert (DOCKER_DIR / script.removeprefix("/opt/igbridge/")).is_file()


# ---------------------------------------------------------------- WordPress and the plugin


def test_the_plugin_folder_is_mounted_read_only(compose: dict[str, Any]) -> None:
    assert (PLUGIN_DIR / "igbridge.php").is_file()
    for name in ("wordpress", "setup"):
        assert mount_at(service(compose, name), PLUGIN_MOUNT) == ("./wp-plugin/igbridge", True)


def test_wordpress_and_wp_cli_load_wp_config_with_the_same_values(
        compose: dict[str, Any]) -> None:
    wordpress = environment(service(compose, "wordpress"))
    setup = environment(service(compose, "setup"))
    shared = {k: v for k, v in wordpress.items() if k.startswith("WORDPRESS_")}
    assert {"WORDPRESS_DB_HOST", "WORDPRESS_DB_PASSWORD", "WORDPRESS_CONFIG_EXTRA"} <= set(shared)
    assert {k: setup.get(k) for k in shared} == shared
    assert wordpress["WORDPRESS_DB_HOST"] == "mariadb"
    assert mount_at(service(compose, "setup"), "/var/www/html")[0] == \
        mount_at(service(compose, "wordpress"), "/var/www/html")[0]


def test_wp_config_extra_allows_application_passwords_and_reaching_the_sidecar(
        resolved: dict[str, Any], filled_env: dict[str, str]) -> None:
    extra = environment(service(resolved, "wordpress"))["WORDPRESS_CONFIG_EXTRA"]
    assert "define('WP_ENVIRONMENT_TYPE', 'local');" in extra
    assert f"define('WP_HOME', '{filled_env['WP_PUBLIC_URL']}');" in extra
    internal = urlsplit(environment(service(resolved, "setup"))["IGBRIDGE_INTERNAL_URL"])
    accessible = re.search(r"define\('WP_ACCESSIBLE_HOSTS', '([^']*)'\)", extra)
    assert accessible
    assert internal.hostname in accessible.group(1).split(",")


def test_the_setup_is_the_wp_cli_image_as_the_apache_images_www_data(
        compose: dict[str, Any]) -> None:
    setup = service(compose, "setup")
    assert setup["user"] == "33:33"
    assert setup["entrypoint"] == ["bash", "/opt/igbridge/setup.sh"]


# ---------------------------------------------------------------- shared files


def test_export_uploads_stay_in_the_sidecars_own_volume(compose: dict[str, Any]) -> None:
    # An uploaded export is personal data: the plugin passes its chunks on to the
    # sidecar, which keeps them in its data dir; no web server's volume holds them.
    sidecar = service(compose, "sidecar")
    data_dir = environment(sidecar)["IGBRIDGE_DATA_DIR"]
    volume, read_only = mount_at(sidecar, data_dir)
    assert volume in compose["volumes"]
    assert not read_only
    for name in ("wordpress", "setup"):
        mounted = {str(m).split(":")[0] for m in service(compose, name).get("volumes", [])}
        assert volume not in mounted, f"{name} must not see the sidecar's data volume"
    assert not any(str(m).startswith("wp-uploads:") for m in sidecar["volumes"])


def test_the_application_password_file_is_shared_by_setup_and_sidecar(
        compose: dict[str, Any]) -> None:
    setup, sidecar = service(compose, "setup"), service(compose, "sidecar")
    written = environment(setup)["WP_APP_PASSWORD_FILE"]
    read = environment(sidecar)["IGBRIDGE_WP_APP_PASSWORD_FILE"]
    assert written == read
    folder = str(Path(written).parent)
    source, read_only = mount_at(setup, folder)
    assert source in compose["volumes"]
    assert not read_only
    assert mount_at(sidecar, folder) == (source, True)


def test_volume_init_hands_new_volumes_to_www_data(compose: dict[str, Any]) -> None:
    init = service(compose, "volume-init")
    assert init["user"] == "0:0"
    script = (DOCKER_DIR / "init-volumes.sh").read_text()
    assert "WWW_DATA=33" in script
    wordpress_uploads, _ = mount_at(service(compose, "wordpress"),
                                    "/var/www/html/wp-content/uploads")
    credentials, _ = mount_at(service(compose, "setup"), "/run/igbridge")
    for volume in (wordpress_uploads, credentials):
        target = next(t for s, t, _ in mounts(init) if s == volume)
        assert re.search(rf'chown "\$WWW_DATA:\$WWW_DATA" {re.escape(target)}\n', script), \
            f"init-volumes.sh does not chown {target} ({volume})"


# ---------------------------------------------------------------- the sidecar's settings


def _sidecar_variables() -> set[str]:
    """Every IGBRIDGE_* / APIFY_* name sidecar/config.py reads, and DESIGN.md's list."""
    # Each setting is a Config field; its variable is what config.py says it is.
    names = {sidecar_config.variable_name(field) for field in sidecar_config.Config.model_fields}
    design = REPO.parent / "shared" / "DESIGN.md"
    if design.exists():
        section = design.read_text().partition("## Configuration")[2].partition("\n## ")[0]
        names |= set(re.findall(r"`((?:IGBRIDGE|APIFY)_[A-Z0-9_]+)`", section))
    return names


def test_the_sidecar_gets_every_variable_it_reads(compose: dict[str, Any]) -> None:
    sidecar = service(compose, "sidecar")
    env = environment(sidecar)
    flags = command_flags(sidecar)
    by_flag = {"IGBRIDGE_HOST": "--host", "IGBRIDGE_PORT": "--port",
               "IGBRIDGE_DATA_DIR": "--data-dir"}
    variables = _sidecar_variables()
    assert {"IGBRIDGE_SECRET", "IGBRIDGE_WP_URL", "APIFY_TOKEN"} <= variables
    missing = sorted(
        name for name in variables
        if name not in env and f"{name}_FILE" not in env
        and by_flag.get(name) not in flags
        and not (name.endswith("_FILE") and name.removesuffix("_FILE") in env)
    )
    assert missing == [], f"the sidecar service does not set or pass {missing}"


@pytest.mark.parametrize("dotenv", ["from .env.example", "only the required secrets"])
def test_the_sidecar_starts_with_compose_values_and_its_own_defaults(
        compose: dict[str, Any], filled_env: dict[str, str], dotenv: str,
        tmp_path: Path) -> None:
    # An .env holding only the secrets (say, from an older release) must get the
    # same sidecar as the full example: the defaults in compose must be right too.
    if dotenv == "only the required secrets":
        filled_env = {name: filled_env[name] for name in REQUIRED_SECRETS}
        filled_env.update(WP_ADMIN_USER="admin", IGBRIDGE_PUBLIC_URL="http://localhost:8765",
                          WP_PUBLIC_URL="http://localhost:8080")
        resolved = resolve(compose, {name: filled_env[name] for name in REQUIRED_SECRETS})
    else:
        resolved = resolve(compose, filled_env)
    env = environment(service(resolved, "sidecar"))
    password_file = tmp_path / "wp-app-password"
    password_file.write_text("abcd efgh ijkl mnop qrst uvwx\n")
    env["IGBRIDGE_WP_APP_PASSWORD_FILE"] = str(password_file)
    flags = command_flags(service(resolved, "sidecar"))
    config = sidecar_config.load_config(env, host=flags["--host"], port=int(flags["--port"]))

    assert config.secret == filled_env["IGBRIDGE_SECRET"]
    assert config.wp_app_password == "abcd efgh ijkl mnop qrst uvwx"
    assert config.wp_url == "http://wordpress"
    assert config.wp_user == filled_env["WP_ADMIN_USER"]
    assert config.public_url == filled_env["IGBRIDGE_PUBLIC_URL"]
    assert config.allowed_origins == (filled_env["WP_PUBLIC_URL"],)
    assert str(config.data_dir) == "/data"
    assert (config.host, config.port) == ("0.0.0.0", sidecar_config.DEFAULT_PORT)
    # Everything not set on purpose equals the sidecar's own default: an empty
    # pass-through must never turn into a different value.
    own_defaults = sidecar_config.load_config({"IGBRIDGE_DATA_DIR": "/data"})
    deployment = {"secret", "wp_app_password", "wp_url", "wp_user", "public_url",
                  "allowed_origins", "host", "port", "data_dir"}
    for name in type(config).model_fields:
        if name not in deployment:
            assert getattr(config, name) == getattr(own_defaults, name), name


def test_the_sidecar_listens_where_compose_and_the_healthcheck_expect(
        compose: dict[str, Any], resolved: dict[str, Any]) -> None:
    sidecar = service(compose, "sidecar")
    port = command_flags(sidecar)["--port"]
    assert command_flags(sidecar)["--host"] == "0.0.0.0"
    assert port == str(sidecar_config.DEFAULT_PORT)
    assert sidecar["ports"][0].endswith(f":{port}")
    assert f"127.0.0.1:{port}/healthz" in " ".join(sidecar["healthcheck"]["test"])
    assert sidecar["healthcheck"]["test"][:2] == ["CMD", "python"]
    internal = urlsplit(environment(service(resolved, "setup"))["IGBRIDGE_INTERNAL_URL"])
    assert (internal.hostname, str(internal.port)) == ("sidecar", port)


# ---------------------------------------------------------------- URLs, ports, secrets


def test_ports_are_published_on_loopback_only(compose: dict[str, Any]) -> None:
    published = [(name, port) for name, svc in compose["services"].items()
                 for port in svc.get("ports", [])]
    assert {name for name, _ in published} == {"wordpress", "sidecar", "nginx"}
    for name, port in published:
        assert isinstance(port, str), f"{name}: write ports as strings, got {port!r}"
        assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_browser_urls_match_the_published_ports(
        resolved: dict[str, Any], filled_env: dict[str, str]) -> None:
    for name, url_variable in (("wordpress", "WP_PUBLIC_URL"),
                               ("sidecar", "IGBRIDGE_PUBLIC_URL")):
        host_port = int(service(resolved, name)["ports"][0].split(":")[1])
        assert urlsplit(filled_env[url_variable]).port == host_port, url_variable
    setup = environment(service(resolved, "setup"))
    sidecar = environment(service(resolved, "sidecar"))
    assert setup["IGBRIDGE_PUBLIC_URL"] == sidecar["IGBRIDGE_PUBLIC_URL"]
    assert setup["WP_PUBLIC_URL"] == sidecar["IGBRIDGE_ALLOWED_ORIGINS"]
    assert setup["IGBRIDGE_SECRET"] == sidecar["IGBRIDGE_SECRET"]


def test_no_secret_is_written_into_the_compose_file(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for key, value in environment(svc).items():
            if re.search(r"SECRET|PASSWORD|TOKEN", key) and not key.endswith("_FILE"):
                assert re.fullmatch(r"\$\{[A-Z_]+:?[-?][^}]*\}", value) or value == "1", \
                    f"{name}: {key} must come from .env, not be written here"
    text = COMPOSE_FILE.read_text()
    assert text.count("${IGBRIDGE_SECRET:?set IGBRIDGE_SECRET in .env") == 2


def test_a_missing_secret_stops_compose_with_a_message(
        compose: dict[str, Any], example_env: dict[str, str]) -> None:
    for name in REQUIRED_SECRETS:
        env = {**example_env, **{n: "x" for n in REQUIRED_SECRETS}, name: ""}
        with pytest.raises(MissingVariable, match=f"^{name}: set {name} in .env"):
            resolve(compose, env)


def test_env_example_lists_every_variable_with_the_compose_default(
        compose: dict[str, Any], example_env: dict[str, str]) -> None:
    refs = references(compose)
    used = {name for name, _, _ in refs}
    assert used == set(example_env), (
        f"in compose only: {sorted(used - set(example_env))}; "
        f"in .env.example only: {sorted(set(example_env) - used)}")
    for name, op, arg in refs:
        if op in (":-", "-"):
            assert example_env[name] == arg, f"{name}: .env.example {example_env[name]!r} " \
                                             f"but compose defaults to {arg!r}"
        elif op in (":?", "?"):
            assert example_env[name] == "", f"{name} is required: leave it empty in the example"
        else:
            raise AssertionError(f"${{{name}}} has no default; give it one or make it required")


def test_defaults_match_the_local_stack_and_the_sidecar(example_env: dict[str, str]) -> None:
    defaults = sidecar_config.Config(data_dir=Path("/data"))
    assert example_env["WP_ADMIN_USER"] == ADMIN_USER
    assert example_env["IGBRIDGE_APIFY_ACTOR"] == defaults.apify_actor
    assert example_env["IGBRIDGE_APIFY_API_URL"] == defaults.apify_api_url
    assert example_env["IGBRIDGE_BACKEND"] == defaults.backend
    assert example_env["IGBRIDGE_HTTP_PORT"] == str(sidecar_config.DEFAULT_PORT)
    assert example_env["IGBRIDGE_APIFY_LIMIT"] == php_constant(PLUGIN_SETTINGS_PHP,
                                                               "DEFAULT_APIFY_LIMIT")


# ---------------------------------------------------------------- docker/ scripts


@pytest.mark.parametrize("script", sorted(DOCKER_DIR.glob("*.sh")), ids=lambda p: p.name)
def test_shell_scripts_parse(script: Path) -> None:
    shebang = script.read_text().splitlines()[0]
    shell = "sh" if shebang in ("#!/bin/sh", "#!/usr/bin/env sh") else "bash"
    result = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert script.stat().st_mode & stat.S_IXUSR, f"{script.name} is not executable"


def test_init_env_writes_random_secrets_once(
        compose: dict[str, Any], example_env: dict[str, str], tmp_path: Path) -> None:
    target = tmp_path / ".env"
    first = subprocess.run(["bash", str(INIT_ENV_SCRIPT), str(target)], capture_output=True,
                           text=True, check=False, timeout=30)
    assert first.returncode == 0, first.stderr
    written = parse_env_file(target.read_text())
    for name in REQUIRED_SECRETS:
        assert re.fullmatch(r"[A-Za-z0-9]{32}", written[name]), name
    assert len({written[name] for name in REQUIRED_SECRETS}) == len(REQUIRED_SECRETS)
    assert {k: v for k, v in written.items() if k not in REQUIRED_SECRETS} == \
        {k: v for k, v in example_env.items() if k not in REQUIRED_SECRETS}
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    resolve(compose, written)  # every required variable is now there

    before = target.read_text()
    second = subprocess.run(["bash", str(INIT_ENV_SCRIPT), str(target)], capture_output=True,
                            text=True, check=False, timeout=30)
    assert second.returncode == 0
    assert "leaving it as it is" in second.stderr
    assert target.read_text() == before


def _setup_env(**overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "WORDPRESS_DB_HOST": "mariadb", "WORDPRESS_DB_NAME": "wordpress",
        "WORDPRESS_DB_USER": "wordpress", "WORDPRESS_DB_PASSWORD": "db",
        "WP_PUBLIC_URL": "http://localhost:8080", "WP_SITE_TITLE": "igbridge dev",
        "WP_ADMIN_USER": "admin", "WP_ADMIN_PASSWORD": "pw",
        "WP_ADMIN_EMAIL": "admin@example.test", "WP_APP_PASSWORD_FILE": "/run/igbridge/x",
        "IGBRIDGE_PUBLIC_URL": "http://localhost:8765/",
        "IGBRIDGE_INTERNAL_URL": "http://sidecar:8765",
        "IGBRIDGE_SECRET": "s3cr'et\"with\\odd$chars", "IGBRIDGE_APIFY_LIMIT": "20",
    }
    env.update(overrides)
    return env


def _in_setup(function: str, env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    """Run one function of docker/setup.sh (sourcing it runs nothing else)."""
    return subprocess.run(["bash", "-c", f'source "$1"; {function}', "bash", str(SETUP_SCRIPT)],
                          env=dict(env), capture_output=True, text=True, check=False,
                          timeout=30)


@pytest.mark.skipif(not Path("/usr/bin/php").exists(), reason="needs php-cli")
def test_setup_writes_the_plugins_option_with_the_plugins_keys() -> None:
    option = re.search(r"^SETTINGS_OPTION=(\S+)$", SETUP_SCRIPT.read_text(), re.M)
    assert option
    assert option.group(1) == php_constant(PLUGIN_SETTINGS_PHP, "OPTION")
    plugin_keys = set(re.findall(r"'(\w+)'\s*=>", PLUGIN_SETTINGS_PHP.read_text()
                                 .partition("function all()")[2].partition("\n    }")[0]))
    assert plugin_keys == SETTINGS_KEYS

    result = _in_setup("settings_json", _setup_env())
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "public_url": "http://localhost:8765",
        "internal_url": "http://sidecar:8765",
        "secret": "s3cr'et\"with\\odd$chars",
        "apify_limit": 20,
    }


@pytest.mark.parametrize(("overrides", "message"), [
    ({"IGBRIDGE_SECRET": ""}, "IGBRIDGE_SECRET is empty"),
    ({"WP_ADMIN_PASSWORD": ""}, "WP_ADMIN_PASSWORD is empty"),
    ({"IGBRIDGE_APIFY_LIMIT": "twenty"},
     "IGBRIDGE_APIFY_LIMIT must be a whole number, got 'twenty'"),
    ({"IGBRIDGE_PUBLIC_URL": "localhost:8765"},
     "IGBRIDGE_PUBLIC_URL must start with http:// or https://, got 'localhost:8765'"),
])
def test_setup_refuses_bad_settings_before_touching_wordpress(
        overrides: dict[str, str], message: str) -> None:
    result = subprocess.run(["bash", str(SETUP_SCRIPT)], env=_setup_env(**overrides),
                            capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 1
    assert message in result.stderr


def test_setup_accepts_the_compose_environment(resolved: dict[str, Any]) -> None:
    env = {"PATH": os.environ["PATH"], **environment(service(resolved, "setup"))}
    assert _in_setup("check_environment", env).returncode == 0


# ---------------------------------------------------------------- Dockerfile


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(
        line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")))
    result = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            result.append((keyword.upper(), rest.strip()))
    return result


def _final_stage() -> list[tuple[str, str]]:
    instructions = _instructions(DOCKERFILE.read_text())
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def test_dockerfile_runs_the_sidecar_as_a_non_root_user() -> None:
    stage = _final_stage()
    assert stage[0][1].split()[0] == "python:3.11-slim"
    users = [args for keyword, args in stage if keyword == "USER"]
    assert users, "the final stage sets no USER: it would run as root"
    user, _, group = users[-1].partition(":")
    assert user not in ("root", "0")
    assert group not in ("root", "0")
    # Group 33 reads the application password the compose setup writes (0640).
    assert group == "33" or "--gid www-data" in DOCKERFILE.read_text()


def test_dockerfile_declares_port_healthcheck_entrypoint_and_command() -> None:
    stage = dict(_final_stage())
    assert stage["EXPOSE"] == str(sidecar_config.DEFAULT_PORT)
    assert "/healthz" in stage["HEALTHCHECK"]
    assert not stage["HEALTHCHECK"].startswith("NONE")
    assert "python" in stage["HEALTHCHECK"]
    assert stage["ENTRYPOINT"] == '["igbridge"]'
    assert stage["CMD"] == '["serve", "--host", "0.0.0.0"]'
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert "igbridge" in scripts


def test_dockerfile_installs_without_the_dev_extra() -> None:
    runs = " ".join(args for keyword, args in _instructions(DOCKERFILE.read_text())
                    if keyword == "RUN")
    assert "pip" in runs
    assert "[dev]" not in runs
    assert ".[" not in runs


def _dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents wins."""

    def to_regex(pattern: str) -> re.Pattern[str]:
        out = ""
        for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern.strip("/")):
            out += {"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(
                token, re.escape(token))
        return re.compile(out + r"\Z")

    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    excluded = False
    for raw in patterns:
        negated = raw.startswith("!")
        regex = to_regex(raw.removeprefix("!"))
        if any(regex.match(candidate) for candidate in candidates):
            excluded = not negated
    return excluded


def test_dockerfile_copies_only_what_exists_and_the_context_keeps() -> None:
    patterns = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    copies = [args.split() for keyword, args in _instructions(DOCKERFILE.read_text())
              if keyword == "COPY"]
    assert copies
    for words in copies:
        if any(word.startswith("--from") for word in words):
            continue
        sources = [word for word in words[:-1] if not word.startswith("--")]
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: no such file in the repository"
            assert not _dockerignore_excludes(source, patterns), \
                f".dockerignore keeps {source} out of the build context"
            if (REPO / source).is_dir():
                module = next((REPO / source).rglob("*.py")).relative_to(REPO).as_posix()
                assert not _dockerignore_excludes(module, patterns), module
    for kept_out in (".venv/bin/python", "node_modules/x/index.js", ".devstack/stack.json",
                     "tests/unit/test_compose.py", "bench/run.py", ".env", ".git/HEAD",
                     "sidecar/__pycache__/config.cpython-311.pyc"):
        assert _dockerignore_excludes(kept_out, patterns), f"{kept_out} reaches the build"


# ---------------------------------------------------------------- setup.sh's PHP, on real WordPress


@pytest.fixture(scope="module")
def wordpress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The local stack's MariaDB and WordPress; these checks need no sidecar."""
    running = start_stack(tmp_path_factory.mktemp("compose-wordpress"), sidecar=False)
    leaders = [p.popen for p in running.processes.values() if p.popen is not None]
    try:
        yield running
    finally:
        running.stop()
        # stop() returns once a group has no live member; reap the leaders' exit
        # status too, or Popen warns that they are "still running".
        for popen in leaders:
            popen.wait(timeout=10)


def _setup_php(marker: str) -> str:
    """The PHP of the ``wp eval '…'`` in docker/setup.sh that contains ``marker``.

    wp-cli is not installed here, but the code it would evaluate runs unchanged in
    the local stack's WordPress.
    """
    snippets = re.findall(r"wp eval '(.*?)'", SETUP_SCRIPT.read_text(), re.S)
    found = [snippet for snippet in snippets if marker in snippet]
    assert len(found) == 1, f"expected one wp eval with {marker} in setup.sh"
    return found[0]


@pytest.mark.wordpress
def test_setup_keeps_only_an_application_password_that_still_works(
        wordpress: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    check = _setup_php("wp_authenticate_application_password")
    user = wordpress.create_user(f"compose-{os.getpid()}", role="administrator")
    stored = tmp_path / "wp-app-password"
    monkeypatch.setenv("WP_ADMIN_USER", user["login"])
    monkeypatch.setenv("IGBRIDGE_CHECK_FILE", str(stored))

    stored.write_text(user["app_password"] + "\n")
    wordpress.wp_php(check)  # exit 0: setup keeps it

    stored.write_text("abcd efgh ijkl mnop qrst uvwx\n")
    with pytest.raises(StackError, match="exit code 1"):
        wordpress.wp_php(check)  # setup replaces it


@pytest.mark.wordpress
def test_setup_rewrites_the_admin_password_only_when_it_differs(
        wordpress: Stack, monkeypatch: pytest.MonkeyPatch) -> None:
    check = _setup_php("wp_check_password")
    monkeypatch.setenv("WP_ADMIN_USER", wordpress.wp_admin_user)
    monkeypatch.setenv("WP_ADMIN_PASSWORD", wordpress.wp_admin_password)
    wordpress.wp_php(check)
    monkeypatch.setenv("WP_ADMIN_PASSWORD", wordpress.wp_admin_password + "-changed")
    with pytest.raises(StackError, match="exit code 1"):
        wordpress.wp_php(check)


# ---------------------------------------------------------------- the scale profile

SCALE_SERVICES = {"redis", "sidecars", "nginx"}
NGINX_TEMPLATES = "/etc/nginx/templates"


def test_the_scale_profile_is_redis_sidecars_and_nginx_and_nothing_else(
        compose: dict[str, Any]) -> None:
    profiled = {name for name, svc in compose["services"].items() if svc.get("profiles")}
    assert profiled == SCALE_SERVICES
    assert all(service(compose, name)["profiles"] == ["scale"] for name in SCALE_SERVICES)


def test_redis_keeps_an_append_only_file_fsynced_every_second(compose: dict[str, Any]) -> None:
    redis = service(compose, "redis")
    command = redis["command"]
    assert command[0] == "redis-server"
    flags = dict(zip(command[1::2], command[2::2], strict=True))
    assert flags == {"--appendonly": "yes", "--appendfsync": "everysec", "--save": ""}
    source, read_only = mount_at(redis, "/data")
    assert source in compose["volumes"]
    assert not read_only
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]


def test_the_scaled_sidecars_are_the_sidecar_on_redis(
        resolved: dict[str, Any], filled_env: dict[str, str]) -> None:
    single, scaled = service(resolved, "sidecar"), service(resolved, "sidecars")
    assert scaled["image"] == single["image"]
    assert scaled["command"] == single["command"]
    assert scaled["healthcheck"]["test"] == single["healthcheck"]["test"]
    assert int(scaled["deploy"]["replicas"]) == int(filled_env["IGBRIDGE_SIDECARS"]) >= 2
    assert "ports" not in scaled  # reached through nginx; a fixed host port cannot scale
    env, single_env = environment(scaled), environment(single)
    assert env.pop("IGBRIDGE_BACKEND") == "redis://redis:6379/0"
    single_env.pop("IGBRIDGE_BACKEND")
    env.pop("IGBRIDGE_UPLOADS_DIR")  # the next test
    single_env.pop("IGBRIDGE_UPLOADS_DIR")
    assert env == single_env
    assert scaled["depends_on"]["redis"]["condition"] == "service_healthy"
    # Each replica's data dir is its own: no volume shared between replicas there.
    assert not any(target == env["IGBRIDGE_DATA_DIR"] for _, target, _ in mounts(scaled))


def test_the_scaled_sidecars_share_one_uploads_volume_and_nothing_else_sees_it(
        resolved: dict[str, Any]) -> None:
    # A chunk of an upload, or the import naming it, may reach any replica: they all
    # read and write one uploads directory, a named volume of its own.
    scaled = service(resolved, "sidecars")
    uploads_dir = environment(scaled)["IGBRIDGE_UPLOADS_DIR"]
    config = sidecar_config.load_config({"IGBRIDGE_DATA_DIR": "/data",
                                         "IGBRIDGE_UPLOADS_DIR": uploads_dir})
    assert config.upload_directory == Path(uploads_dir)
    assert not config.upload_directory.is_relative_to("/data")  # not the replica's own
    volume, read_only = mount_at(scaled, uploads_dir)
    assert volume in resolved["volumes"]
    assert not read_only
    # Personal data: no other service mounts it, the single sidecar keeps its own.
    for name, other in resolved["services"].items():
        if name != "sidecars":
            assert volume not in {s for s, _, _ in mounts(other)}, name
    assert environment(service(resolved, "sidecar"))["IGBRIDGE_UPLOADS_DIR"] in ("", None)
    # The image makes the mount point the sidecar's user's, so a new volume is too.
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(rf"install -d -o igbridge -g www-data -m 0700 {re.escape(uploads_dir)}\b",
                     dockerfile)


def test_nginx_fills_in_the_template_dev_uses(resolved: dict[str, Any]) -> None:
    nginx = service(resolved, "nginx")
    template, read_only = next((s, ro) for s, t, ro in mounts(nginx)
                               if t.startswith(NGINX_TEMPLATES + "/"))
    assert read_only
    assert (REPO / template).resolve() == dev_nginx.SITE_TEMPLATE
    env = environment(nginx)
    assert env["NGINX_ENVSUBST_FILTER"] == "^IGBRIDGE_"
    site = dev_nginx.fill_template(dev_nginx.SITE_TEMPLATE.read_text(), env)
    assert "server sidecars:8765;" in site
    listen = re.search(r"listen (\d+);", site)
    assert listen
    assert nginx["ports"][0].endswith(f":{listen.group(1)}")
    heartbeat = sidecar_config.load_config({"IGBRIDGE_DATA_DIR": "/data"}).heartbeat_seconds
    assert env["IGBRIDGE_NGINX_READ_TIMEOUT"] == f"{dev_nginx.read_timeout_seconds(heartbeat)}s"
    # What WordPress is told in scale mode reaches nginx, and WordPress may call it.
    extra = environment(service(resolved, "wordpress"))["WORDPRESS_CONFIG_EXTRA"]
    assert "nginx" in re.search(r"WP_ACCESSIBLE_HOSTS', '([^']*)'", extra).group(1).split(",")


def test_the_compose_nginx_site_passes_nginx_t(
        resolved: dict[str, Any], tmp_path: Path) -> None:
    env = environment(service(resolved, "nginx"))
    # The service name resolves only on the compose network; the rest is checked as is.
    env["IGBRIDGE_NGINX_UPSTREAMS"] = "server 127.0.0.1:9;"
    env["IGBRIDGE_NGINX_ACCESS_LOG"] = str(tmp_path / "access.log")
    env["IGBRIDGE_NGINX_PORT"] = "127.0.0.1:" + env["IGBRIDGE_NGINX_PORT"]
    site = tmp_path / "igbridge.conf"
    site.write_text(dev_nginx.fill_template(dev_nginx.SITE_TEMPLATE.read_text(), env))
    for name in dev_nginx.TEMP_DIRS:
        (tmp_path / "temp" / name).mkdir(parents=True)
    (tmp_path / "logs").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(dev_nginx.main_config(tmp_path, site))
    result = subprocess.run([dev_nginx.nginx_binary(), "-t", "-p", str(tmp_path), "-c", str(conf),
                             "-e", str(tmp_path / "logs" / "error.log")],
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr
