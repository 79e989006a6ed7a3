"""Remote key sets: cached, refreshed on key rotation at a bounded rate, resilient to outages."""

from __future__ import annotations

import httpx
import pytest
import respx

from cds_service.auth.jwks import MAX_JWKS_BYTES, JwksStore, JwksUnavailable, index_keys
from tests.support.auth import ec_key

pytestmark = pytest.mark.asyncio

URL = "https://ehr.example.org/keys/jwks.json"


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


def _store(http: httpx.AsyncClient, clock: FakeMonotonic) -> JwksStore:
    return JwksStore(lambda: http, cache_seconds=3600, min_refresh_seconds=60, monotonic=clock)


async def test_key_set_is_cached(clock: FakeMonotonic) -> None:
    async with httpx.AsyncClient() as http:
        with respx.mock() as network:
            route = network.get(URL).mock(return_value=httpx.Response(200, json=ec_key("k1").jwks()))
            store = _store(http, clock)
            for _ in range(5):
                assert (await store.find_key(URL, "k1"))["kid"] == "k1"
            assert route.call_count == 1


async def test_unknown_kid_refetches_at_most_once_per_interval(clock: FakeMonotonic) -> None:
    """Key rotation is picked up, but a flood of forged kids cannot make us hammer the key host."""
    async with httpx.AsyncClient() as http:
        with respx.mock() as network:
            route = network.get(URL).mock(return_value=httpx.Response(200, json=ec_key("k1").jwks()))
            store = _store(http, clock)
            assert await store.find_key(URL, "k1")
            for forged in ("x1", "x2", "x3"):
                assert await store.find_key(URL, forged) is None
            assert route.call_count == 1  # all within 60 s of the first fetch

            rotated = {"keys": [ec_key("k1").public_jwk(), ec_key("k2").public_jwk()]}
            route.mock(return_value=httpx.Response(200, json=rotated))
            clock.now += 61
            assert (await store.find_key(URL, "k2"))["kid"] == "k2"
            assert route.call_count == 2


async def test_expired_cache_is_refreshed(clock: FakeMonotonic) -> None:
    async with httpx.AsyncClient() as http:
        with respx.mock() as network:
            route = network.get(URL).mock(return_value=httpx.Response(200, json=ec_key("k1").jwks()))
            store = _store(http, clock)
            await store.find_key(URL, "k1")
            clock.now += 3601
            await store.find_key(URL, "k1")
            assert route.call_count == 2


async def test_known_key_survives_a_key_host_outage(clock: FakeMonotonic) -> None:
    async with httpx.AsyncClient() as http:
        with respx.mock() as network:
            route = network.get(URL).mock(return_value=httpx.Response(200, json=ec_key("k1").jwks()))
            store = _store(http, clock)
            await store.find_key(URL, "k1")
            route.mock(side_effect=httpx.ConnectError("down"))
            clock.now += 3601
            assert (await store.find_key(URL, "k1"))["kid"] == "k1"
            assert route.call_count == 2


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(500, text="oops"),
        httpx.Response(200, text="<html>not json</html>"),
        httpx.Response(200, json={"no": "keys"}),
        httpx.Response(302, headers={"Location": "https://attacker.example.net/jwks.json"}),
        httpx.Response(200, content=b'{"keys": [' + b" " * (MAX_JWKS_BYTES + 1) + b"]}"),
    ],
    ids=["500", "html", "not-jwks", "redirect-not-followed", "too-large"],
)
async def test_bad_key_set_answers_are_unavailable(clock: FakeMonotonic, response: httpx.Response) -> None:
    async with httpx.AsyncClient() as http:
        with respx.mock() as network:
            network.get(URL).mock(return_value=response)
            with pytest.raises(JwksUnavailable):
                await _store(http, clock).find_key(URL, "k1")
            assert network.calls.call_count == 1  # the redirect target was not requested


async def test_duplicate_kids_are_ambiguous_and_ignored() -> None:
    one, other = ec_key("dup").public_jwk(), ec_key("k2").public_jwk()
    other = {**other, "kid": "dup"}
    assert index_keys({"keys": [one, other, ec_key("k3").public_jwk()]}).keys() == {"k3"}
