"""Start-up that explains itself: a bad setting stops `cds-service` with one line, and `check-config`.

The bad cases run the real command in a subprocess (`python -m cds_service.cli`), as an operator,
a process supervisor or `kubectl logs` sees it: exit status 2, exactly one line on stderr naming
the variable or file and the key, no traceback, and no secret value echoed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cds_service.cli import build_parser
from cds_service.settings import mask_url_password, masked_setting

ROOT = Path(__file__).resolve().parent.parent
DB_PASSWORD = "hunter2-db-pw"
ADMIN_TOKEN = "admin-tok-5f3a9c"
HASH_SECRET = "hash-secret-0c1d2e"
REDIS_PASSWORD = "redis-pw-77aa"
SECRETS = (DB_PASSWORD, ADMIN_TOKEN, HASH_SECRET, REDIS_PASSWORD)
CLIENT = '[[client]]\niss = "https://ehr.example.org"\njwks_url = ["https://ehr.example.org/jwks"]\n'


def run_cli(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real command, in tmp_path, with no CDS_* variable but those given."""
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("CDS_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "cds_service.cli", *args],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *expected: str) -> str:
    lines = result.stderr.splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    (line,) = lines
    assert line.startswith("cds-service: "), line
    for text in expected:
        assert text in line, (text, line)
    for secret in SECRETS:
        assert secret not in line, line
    return line


# Each case: (id, env, files to write, argv after the command, texts the line must contain).
# "{tmp}" in env values and argv is replaced by the test's directory.
BAD_CASES = [
    ("env-port-not-int", {"CDS_PORT": "abc"}, {}, ["--dev"], ["CDS_PORT", "not a valid integer", "'abc'"]),
    ("env-port-range", {"CDS_PORT": "70000"}, {}, ["--dev"], ["CDS_PORT", "at most 65535"]),
    ("flag-port", {}, {}, ["--dev", "--port", "abc"], ["--port", "not a valid integer"]),
    ("env-bool", {"CDS_DEV": "maybe"}, {}, [], ["CDS_DEV", "boolean", "'maybe'"]),
    ("env-log-level", {"CDS_LOG_LEVEL": "LOUD"}, {}, ["--dev"], ["CDS_LOG_LEVEL", "not a log level"]),
    ("env-json-list", {"CDS_CORS_ORIGINS": "https://a.example"}, {}, ["--dev"], ["CDS_CORS_ORIGINS", "JSON"]),
    ("env-literal", {"CDS_TOPIC_CODE_STYLE": "camel"}, {}, ["--dev"], ["CDS_TOPIC_CODE_STYLE", "'epic'"]),
    (
        "toml-port",
        {},
        {"cds.toml": 'port = "x"\n'},
        ["--dev", "--config", "{tmp}/cds.toml"],
        ["{tmp}/cds.toml: port", "not a valid integer", "'x'"],
    ),
    (
        "toml-list-item",
        {},
        {"cds.toml": 'cors_origins = ["https://a.example", 5]\n'},
        ["--dev", "--config", "{tmp}/cds.toml"],
        ["{tmp}/cds.toml: cors_origins[1]", "not a string"],
    ),
    (
        "toml-syntax",
        {},
        {"cds.toml": "port = \n"},
        ["--dev", "--config", "{tmp}/cds.toml"],
        ["{tmp}/cds.toml", "not valid TOML", "line 1"],
    ),
    (
        "config-missing",
        {},
        {},
        ["--dev", "--config", "{tmp}/missing.toml"],
        ["--config", "{tmp}/missing.toml", "no such file"],
    ),
    (
        "config-env-missing",
        {"CDS_CONFIG_FILE": "{tmp}/missing.toml"},
        {},
        ["--dev"],
        ["CDS_CONFIG_FILE", "{tmp}/missing.toml", "no such file"],
    ),
    (
        "clients-iss-int",
        {},
        {"clients.toml": '[[client]]\niss = 5\njwks_url = ["https://ehr.example.org/jwks"]\n'},
        ["--clients", "{tmp}/clients.toml"],
        ["clients file {tmp}/clients.toml", "client #1", "`iss`", "integer"],
    ),
    (
        "clients-unknown-key",
        {},
        {"clients.toml": CLIENT + 'fhir_server = ["https://fhir.example.org"]\n'},
        ["--clients", "{tmp}/clients.toml"],
        ["clients file {tmp}/clients.toml", "'https://ehr.example.org'", "fhir_server"],
    ),
    (
        "clients-syntax",
        {},
        {"clients.toml": "[[client]\n"},
        ["--clients", "{tmp}/clients.toml"],
        ["clients file {tmp}/clients.toml", "not valid TOML"],
    ),
    (
        "clients-missing-env",
        {"CDS_CLIENTS_FILE": "{tmp}/nope/clients.toml"},
        {},
        [],
        ["CDS_CLIENTS_FILE", "{tmp}/nope/clients.toml", "no such file"],
    ),
    (
        "clients-missing-flag",
        {},
        {},
        ["--clients", "{tmp}/missing.toml"],
        ["--clients", "{tmp}/missing.toml", "no such file"],
    ),
    (
        "clients-jwks-file",
        {},
        {"clients.toml": '[[client]]\niss = "https://ehr.example.org"\njwks_file = "keys.json"\n'},
        ["--clients", "{tmp}/clients.toml"],
        ["clients file {tmp}/clients.toml", "'https://ehr.example.org'", "jwks_file", "keys.json"],
    ),
    (
        "env-jwt-none",
        {"CDS_JWT_ALGORITHMS": '["none"]'},
        {"clients.toml": CLIENT},
        ["--clients", "{tmp}/clients.toml"],
        ["CDS_JWT_ALGORITHMS", "must not include ['none']"],
    ),
    # secrets: named, never shown
    (
        "secret-db-url-dialect",
        {"CDS_DATABASE_URL": f"nosuchdb://cds:{DB_PASSWORD}@db.example.org/cds"},
        {},
        ["--dev"],
        ["CDS_DATABASE_URL", "(value hidden)"],
    ),
    (
        "secret-db-url-garbage",
        {"CDS_DATABASE_URL": f"::{DB_PASSWORD}"},
        {},
        ["--dev"],
        ["CDS_DATABASE_URL", "(value hidden)"],
    ),
    (
        "secret-toml-admin-token",
        {},
        {"cds.toml": f'admin_token = ["{ADMIN_TOKEN}"]\n'},
        ["--dev", "--config", "{tmp}/cds.toml"],
        ["{tmp}/cds.toml: admin_token", "(value hidden)"],
    ),
    (
        "secret-toml-hash-secret",
        {},
        {"cds.toml": f'patient_hash_secret = {{ value = "{HASH_SECRET}" }}\n'},
        ["--dev", "--config", "{tmp}/cds.toml"],
        ["{tmp}/cds.toml: patient_hash_secret", "(value hidden)"],
    ),
]


# check-config goes through the same loading as serve: a few of the cases suffice for it
CHECK_CONFIG_CASES = {"env-port-not-int", "toml-port", "config-missing", "clients-iss-int", "secret-db-url-dialect"}


@pytest.mark.parametrize(
    ("command", "env", "files", "argv", "expected"),
    [("serve", *case[1:]) for case in BAD_CASES]
    + [("check-config", *case[1:]) for case in BAD_CASES if case[0] in CHECK_CONFIG_CASES],
    ids=[f"serve-{case[0]}" for case in BAD_CASES]
    + [f"check-config-{case[0]}" for case in BAD_CASES if case[0] in CHECK_CONFIG_CASES],
)
def test_a_bad_setting_stops_with_one_line(
    tmp_path: Path, command: str, env: dict[str, str], files: dict[str, str], argv: list[str], expected: list[str]
) -> None:
    for name, text in files.items():
        write(tmp_path, name, text)
    tmp = str(tmp_path)
    result = run_cli(
        tmp_path,
        command,
        *(a.replace("{tmp}", tmp) for a in argv),
        env={k: v.replace("{tmp}", tmp) for k, v in env.items()},
    )
    assert_one_line_error(result, *(e.replace("{tmp}", tmp) for e in expected))


def test_every_error_of_a_file_is_on_the_one_line(tmp_path: Path) -> None:
    config = write(tmp_path, "cds.toml", 'port = "x"\nworkers = 0\nfhir_timeout_seconds = "fast"\n')
    line = assert_one_line_error(run_cli(tmp_path, "serve", "--dev", "--config", config))
    assert line.count(f"{config}: ") == 3, line
    assert "workers: must be at least 1" in line


def test_the_global_config_flag_is_checked_for_every_command(tmp_path: Path) -> None:
    config = write(tmp_path, "cds.toml", 'port = "x"\n')
    request = write(tmp_path, "request.json", "{}")
    assert_one_line_error(run_cli(tmp_path, "--config", config, "evaluate", request), f"{config}: port")
    assert_one_line_error(run_cli(tmp_path, "--config", config, "report"), f"{config}: port")


def _secret_env(tmp_path: Path) -> dict[str, str]:
    return {
        "CDS_DATABASE_URL": f"postgresql+psycopg://cds:{DB_PASSWORD}@db.example.org:5432/cds",
        "CDS_ADMIN_TOKEN": ADMIN_TOKEN,
        "CDS_PATIENT_HASH_SECRET": HASH_SECRET,
        "CDS_REDIS_URL": f"redis://:{REDIS_PASSWORD}@redis.example.org:6379/0",  # not a setting (yet)
        "CDS_CLIENTS_FILE": write(tmp_path, "clients/clients.toml", CLIENT),
    }


def test_check_config_prints_the_effective_configuration_with_secrets_masked(tmp_path: Path) -> None:
    config = write(tmp_path, "cds.toml", 'public_base_url = "https://cds.example.org"\nport = 9000\nrulez = 1\n')
    result = run_cli(tmp_path, "check-config", "--config", config, "--host", "0.0.0.0", env=_secret_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    out = result.stdout
    for secret in SECRETS:
        assert secret not in out
    lines = out.splitlines()
    assert lines[-1] == "configuration OK"
    assert 'database_url = "postgresql+psycopg://cds:***@db.example.org:5432/cds"  # CDS_DATABASE_URL' in lines
    assert 'admin_token = "***"  # CDS_ADMIN_TOKEN' in lines
    assert 'patient_hash_secret = "***"  # CDS_PATIENT_HASH_SECRET' in lines
    assert f"port = 9000  # {config}" in lines  # from the file
    assert 'host = "0.0.0.0"  # --host' in lines  # the flag
    assert "fhir_timeout_seconds = 3.0  # default" in lines
    assert any(
        line.startswith("# clients file ") and "https://ehr.example.org (suggestions: medication-only)" in line
        for line in lines
    )
    # keys and variables the service does not know are listed (by name only), not silently dropped
    assert f"# ignored: {config}: keys that are not settings: rulez" in lines
    assert any(line.startswith("redis_url = ") and "***" in line for line in lines), out  # a real setting now
    assert not any(line.startswith("# warning:") for line in lines), out


def test_check_config_warns_about_unsafe_defaults(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "check-config")
    assert result.returncode == 0 and result.stderr == ""
    assert "# warning: no clients file" in result.stdout
    assert "# warning: patient_hash_secret is the built-in default" in result.stdout
    assert 'patient_hash_secret = "***"  # default' in result.stdout  # even the default is not printed
    assert result.stdout.splitlines()[-1] == "configuration OK"


@pytest.mark.parametrize("overlay", ["base", "overlays/production"])
def test_check_config_accepts_the_kubernetes_settings_files(tmp_path: Path, overlay: str) -> None:
    config = ROOT / "deploy" / "kubernetes" / overlay / "config.toml"
    result = run_cli(tmp_path, "check-config", "--config", str(config), env=_secret_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "keys that are not settings" not in result.stdout
    assert result.stdout.splitlines()[-1] == "configuration OK"


def test_masking_keeps_everything_but_the_password() -> None:
    assert mask_url_password("postgresql+psycopg://cds:pw@db:5432/cds") == "postgresql+psycopg://cds:***@db:5432/cds"
    assert mask_url_password("redis://:pw@redis:6379/0") == "redis://:***@redis:6379/0"
    assert mask_url_password("postgresql+psycopg://cds@db/cds?password=pw&sslmode=require") == (
        "postgresql+psycopg://cds@db/cds?password=***&sslmode=require"
    )
    assert mask_url_password("sqlite:///./cds_service.db") == "sqlite:///./cds_service.db"
    assert mask_url_password("http://[broken") == "***"
    assert masked_setting("redis_url", "redis://user:pw@r:6379") == "redis://user:***@r:6379"
    assert masked_setting("admin_token", "t") == "***"
    assert masked_setting("patient_hash_secret", "s") == "***"
    assert masked_setting("some_future_api_token", "t") == "***"
    assert masked_setting("admin_token", None) is None
    assert masked_setting("public_base_url", "https://u:p@x") == "https://u:p@x"  # not a secret setting


def _subcommand(name: str) -> argparse.ArgumentParser:
    parser = build_parser()
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return subparsers.choices[name]


@pytest.mark.parametrize("command", ["serve", "check-config"])
def test_every_option_has_help(command: str) -> None:
    for action in _subcommand(command)._actions:
        assert action.help and action.help != argparse.SUPPRESS, action.option_strings


def test_serve_help_lists_the_options(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "serve", "--help")
    assert result.returncode == 0
    for option in ("--config", "--host", "--port", "--workers", "--dev", "--clients"):
        assert option in result.stdout


def test_flags_still_reach_the_settings(tmp_path: Path) -> None:
    """--port is now checked by the settings model, not argparse: a good value still arrives as an int."""
    result = run_cli(tmp_path, "check-config", "--dev", "--port", "9123", "--workers", "2")
    assert result.returncode == 0, result.stderr
    assert "port = 9123  # --port" in result.stdout and "workers = 2  # --workers" in result.stdout
    assert json.loads(result.stdout.split("dev = ")[1].split()[0]) is True


def test_serve_starts_with_good_settings_and_names_what_it_ignores(tmp_path: Path) -> None:
    config = write(tmp_path, "cds.toml", 'rulez = 1\nlog_level = "info"\nstorage_enabled = false\n')
    environment = {k: v for k, v in os.environ.items() if not k.upper().startswith("CDS_")}
    environment["CDS_NOT_A_SETTING"] = ADMIN_TOKEN
    process = subprocess.Popen(
        [sys.executable, "-m", "cds_service.cli", "serve", "--dev", "--port", "0", "--config", config],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    timer = threading.Timer(30, process.kill)  # never hang the suite
    timer.start()
    lines: list[str] = []
    try:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "Application startup complete" in line:
                break
    finally:
        timer.cancel()
        process.terminate()
        process.wait(timeout=10)
    log = "".join(lines)
    assert "Application startup complete" in log, log
    assert "Traceback" not in log and ADMIN_TOKEN not in log
    assert f"ignored: {config}: keys that are not settings: rulez" in log
    assert "CDS_NOT_A_SETTING" in log
