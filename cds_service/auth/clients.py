"""The trusted-clients file: one TOML table per CDS client (EHR) allowed to call the service.

```toml
[[client]]
iss = "https://sandbox.cds-hooks.org"                                # exact `iss` claim
jwks_url = ["https://sandbox.cds-hooks.org/.well-known/jwks.json"]  # allowed `jku` / key URLs
jwks_file = "keys/sandbox-jwks.json"     # optional: pinned public keys (then URLs are never fetched)
fhir_servers = ["https://fhir.example.org/r4"]   # FHIR bases this client may make us call
tenant = "optional"                      # `tenant` claim required to equal this
sub = "optional"                         # `sub` claim required to equal this (Epic: client id)
aud = ["https://cds.example.org/cds-services"]   # extra accepted `aud` values (Epic: hand-set)
topic_code_style = "epic"                # alphanumeric card topic codes
suggestions = "whole-resource"           # how it applies a suggestion (default "medication-only")
```

Everything is validated at startup: an unknown key (a typo such as `fhir_server`) or a key
file holding private material is an error, never silently ignored.
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cds_service.auth.errors import ClientsConfigError
from cds_service.auth.ssrf import is_acceptable_fhir_url, normalize_base_url
from cds_service.cards.suggestions import MEDICATION_ONLY, SUGGESTION_STYLES, SuggestionStyle

_KNOWN_KEYS = {
    "iss",
    "jwks_url",
    "jwks_file",
    "fhir_servers",
    "tenant",
    "sub",
    "aud",
    "topic_code_style",
    "name",
    "rules",
    "suggestions",
}
_TOPIC_CODE_STYLES = {"hyphenated", "epic"}
_PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}


@dataclass(frozen=True)
class ClientEntry:
    """One trusted CDS client, as configured."""

    iss: str
    jwks_urls: tuple[str, ...] = ()
    pinned_keys: tuple[dict[str, Any], ...] = ()  # public JWKs from `jwks_file`
    jwks_file: Path | None = None
    fhir_servers: tuple[str, ...] = ()
    tenant: str | None = None
    sub: str | None = None
    aud: tuple[str, ...] = ()
    topic_code_style: str | None = None
    name: str | None = None
    rules: dict[str, Any] | None = None  # this client's [rules] table, layered over the site's
    # How the client applies a suggestion's create/update: the medication alone, keeping its own sig
    # and supply (the CDS Hooks sandbox, several EHRs; the safe default), or the whole resource.
    suggestions: SuggestionStyle = MEDICATION_ONLY

    @property
    def keys_pinned(self) -> bool:
        """Pinned keys come only from disk; `jwks_url` then only lists the accepted `jku`s."""
        return self.jwks_file is not None


def _toml_kind(value: Any) -> str:
    """What a TOML value is, for error messages (never the value itself)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, str) and not value.strip():
        return "an empty string"
    return f"a {type(value).__name__}"


def _str_list(value: Any, field: str, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        bad = value if not isinstance(value, list) else next(v for v in value if not (isinstance(v, str) and v.strip()))
        raise ClientsConfigError(
            f"{where}: `{field}` must be a string or a list of non-empty strings (got {_toml_kind(bad)})"
        )
    return tuple(v.strip() for v in value)


def _optional_str(table: dict[str, Any], field: str, where: str) -> str | None:
    value = table.get(field)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ClientsConfigError(f"{where}: `{field}` must be a non-empty string (got {_toml_kind(value)})")
    return value.strip()


def load_jwks_file(path: Path) -> tuple[dict[str, Any], ...]:
    """Public keys from a JWKS file; refuses private key material and keys without `kid`."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ClientsConfigError(f"cannot read JWKS file {path}: {exc}") from exc
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ClientsConfigError(f"JWKS file {path} has no `keys` list")
    for key in keys:
        if not isinstance(key, dict) or not isinstance(key.get("kid"), str):
            raise ClientsConfigError(f"JWKS file {path}: every key needs a string `kid`")
        if _PRIVATE_JWK_MEMBERS & key.keys():
            raise ClientsConfigError(f"JWKS file {path}: key {key['kid']!r} holds private material")
    return tuple(keys)


def _parse_client(table: Any, index: int, base_dir: Path, allow_http_loopback: bool) -> ClientEntry:
    where = f"client #{index + 1}"
    if not isinstance(table, dict):
        raise ClientsConfigError(f"{where}: must be a table")
    if isinstance(table.get("iss"), str) and table["iss"].strip():
        where = f"{where} ({table['iss'].strip()!r})"
    unknown = set(table) - _KNOWN_KEYS
    if unknown:
        raise ClientsConfigError(f"{where}: unknown keys {sorted(unknown)}")
    iss = _optional_str(table, "iss", where)
    if iss is None:
        raise ClientsConfigError(f"{where}: `iss` is required")
    where = f"client {iss!r}"

    jwks_urls = _str_list(table.get("jwks_url", []), "jwks_url", where)
    for url in jwks_urls:
        if not is_acceptable_fhir_url(url, allow_http_loopback=allow_http_loopback):
            raise ClientsConfigError(f"{where}: jwks_url {url!r} must be https (http only on loopback)")

    jwks_file: Path | None = None
    pinned: tuple[dict[str, Any], ...] = ()
    if table.get("jwks_file") is not None:
        raw = _optional_str(table, "jwks_file", where)
        assert raw is not None
        jwks_file = Path(raw) if Path(raw).is_absolute() else base_dir / raw
        try:
            pinned = load_jwks_file(jwks_file)
        except ClientsConfigError as exc:
            raise ClientsConfigError(f"{where}: `jwks_file`: {exc}") from None
    if not jwks_urls and jwks_file is None:
        raise ClientsConfigError(f"{where}: needs `jwks_url` or `jwks_file` to verify its tokens")

    fhir_servers = _str_list(table.get("fhir_servers", []), "fhir_servers", where)
    for url in fhir_servers:
        if normalize_base_url(url) is None or not is_acceptable_fhir_url(url, allow_http_loopback=allow_http_loopback):
            raise ClientsConfigError(f"{where}: fhir_servers entry {url!r} must be an https base URL")

    style = _optional_str(table, "topic_code_style", where)
    if style is not None and style not in _TOPIC_CODE_STYLES:
        raise ClientsConfigError(f"{where}: topic_code_style must be one of {sorted(_TOPIC_CODE_STYLES)}")

    applies = _optional_str(table, "suggestions", where) or MEDICATION_ONLY
    if applies not in SUGGESTION_STYLES:
        raise ClientsConfigError(f"{where}: suggestions must be one of {list(SUGGESTION_STYLES)} (got {applies!r})")

    rules = table.get("rules")
    if rules is not None and not isinstance(rules, dict):
        raise ClientsConfigError(f"{where}: `rules` must be a table ([client.rules]), got {_toml_kind(rules)}")

    return ClientEntry(
        iss=iss,
        jwks_urls=jwks_urls,
        pinned_keys=pinned,
        jwks_file=jwks_file,
        fhir_servers=fhir_servers,
        tenant=_optional_str(table, "tenant", where),
        sub=_optional_str(table, "sub", where),
        aud=_str_list(table["aud"], "aud", where) if "aud" in table else (),
        topic_code_style=style,
        name=_optional_str(table, "name", where),
        rules=rules,
        suggestions=applies,  # type: ignore[arg-type]  # checked against SUGGESTION_STYLES above
    )


def parse_clients(
    document: dict[str, Any], base_dir: Path, *, allow_http_loopback: bool = False
) -> dict[str, ClientEntry]:
    """Clients keyed by `iss`; relative `jwks_file` paths resolve against `base_dir`."""
    unknown = set(document) - {"client"}
    if unknown:
        raise ClientsConfigError(f"unknown top-level keys {sorted(unknown)} (expected [[client]] tables)")
    tables = document.get("client", [])
    if not isinstance(tables, list):
        raise ClientsConfigError("`client` must be an array of tables: use [[client]]")
    clients: dict[str, ClientEntry] = {}
    for index, table in enumerate(tables):
        entry = _parse_client(table, index, base_dir, allow_http_loopback)
        if entry.iss in clients:
            raise ClientsConfigError(f"client {entry.iss!r} is listed twice")
        clients[entry.iss] = entry
    return clients


def load_clients(path: Path, *, allow_http_loopback: bool = False) -> dict[str, ClientEntry]:
    """Read and validate the clients file named by `--clients` / `CDS_CLIENTS_FILE`.

    Every error names the file, then the entry and key: `clients file X: client #1: ...`.
    """
    where = f"clients file {path}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ClientsConfigError(f"{where}: cannot read it: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise ClientsConfigError(f"{where}: not UTF-8 text") from exc
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ClientsConfigError(f"{where}: not valid TOML: {exc}") from exc
    try:
        return parse_clients(document, Path(path).parent, allow_http_loopback=allow_http_loopback)
    except ClientsConfigError as exc:
        raise ClientsConfigError(f"{where}: {exc}") from None
