"""Which FHIR servers a client may make the service call, and how those calls are made."""

from __future__ import annotations

import pytest

from cds_service.auth import DEV_CLIENT, AuthenticatedClient, fhir_http_client_options
from cds_service.auth.ssrf import is_under_base_url
from cds_service.settings import Settings

CLIENT = AuthenticatedClient(
    iss="https://ehr.example.org",
    fhir_servers=("https://fhir.example.org/r4", "http://127.0.0.1:8103"),
    allow_http_loopback=True,
)


@pytest.mark.parametrize(
    "url",
    [
        "https://fhir.example.org/r4",
        "https://fhir.example.org/r4/",
        "HTTPS://FHIR.EXAMPLE.ORG/r4",
        "https://fhir.example.org:443/r4",
        "http://127.0.0.1:8103",
    ],
)
def test_allowlisted_servers_may_be_called(url: str) -> None:
    assert CLIENT.may_call(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://fhir.example.org/r4/../admin",
        "https://fhir.example.org/r4-other",
        "https://fhir.example.org/r4/Patient",  # a base URL is exact, not a prefix
        "https://fhir.example.org",
        "https://fhir.example.org.attacker.net/r4",
        "https://user:pw@fhir.example.org/r4",
        "http://fhir.example.org/r4",  # https downgraded
        "https://fhir.example.org:8443/r4",
        "http://169.254.169.254/latest/meta-data",
        "file:///etc/passwd",
        "gopher://127.0.0.1:8103",
        "https://",
        "not a url",
        "",
    ],
)
def test_other_servers_may_not_be_called(url: str) -> None:
    assert not CLIENT.may_call(url)


def test_loopback_http_needs_the_setting() -> None:
    strict = AuthenticatedClient(iss="x", fhir_servers=("http://127.0.0.1:8103",), allow_http_loopback=False)
    assert not strict.may_call("http://127.0.0.1:8103")


def test_dev_client_calls_any_http_server_but_no_other_scheme() -> None:
    assert DEV_CLIENT.may_call("https://launch.smarthealthit.org/v/r4/fhir")
    assert DEV_CLIENT.may_call("http://127.0.0.1:8103")
    assert not DEV_CLIENT.may_call("file:///etc/passwd")


def test_paging_links_must_stay_on_the_base() -> None:
    base = "https://fhir.example.org/r4"
    assert is_under_base_url("https://fhir.example.org/r4/Observation?_page=2", base)
    assert is_under_base_url("https://fhir.example.org/r4", base)
    assert not is_under_base_url("https://attacker.example.net/r4/Observation?_page=2", base)
    assert not is_under_base_url("https://fhir.example.org/r4-evil/Observation", base)
    assert not is_under_base_url("https://token@fhir.example.org/r4/Observation", base)
    assert not is_under_base_url("https://fhir.example.org/r4/../admin/users", base)
    assert not is_under_base_url("https://fhir.example.org/r4/%2e%2e/admin", base)


def test_fhir_client_options_never_follow_redirects() -> None:
    options = fhir_http_client_options(Settings(fhir_timeout_seconds=2.5))
    assert options["follow_redirects"] is False
    assert options["timeout"].read == 2.5 and options["timeout"].connect <= 2.5
