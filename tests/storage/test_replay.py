"""JWT `jti` replay cache on the shared database: a token replayed against another worker or
instance is refused; a database outage raises, and the outage policy decides (tests/test_replay_outage.py)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from cds_service.auth.replay import ReplayCache
from cds_service.storage.db import make_engine, run_migrations
from cds_service.storage.replay import SqlReplayCache
from tests.support.storage import database_url  # noqa: F401

ISSUER = "https://sandbox.cds-hooks.org"


def _cache(url: str) -> SqlReplayCache:
    engine = make_engine(url)
    run_migrations(engine)
    return SqlReplayCache(engine)


def _check(cache: SqlReplayCache, jti: str, issuer: str = ISSUER, expires_in: float = 300) -> bool:
    expires_at = datetime.now(UTC) + timedelta(seconds=expires_in)
    return asyncio.run(cache.check_and_store(jti, issuer, expires_at))


def test_implements_the_auth_protocol(database_url: str) -> None:  # noqa: F811
    assert isinstance(_cache(database_url), ReplayCache)


def test_second_use_of_a_jti_is_a_replay_but_not_for_another_issuer(database_url: str) -> None:  # noqa: F811
    cache = _cache(database_url)
    jti = str(uuid.uuid4())
    assert _check(cache, jti) is True
    assert _check(cache, jti) is False
    assert _check(cache, jti, issuer="https://other-ehr.example.org") is True


def test_a_jti_whose_token_expired_may_be_seen_again(database_url: str) -> None:  # noqa: F811
    cache = _cache(database_url)
    jti = str(uuid.uuid4())
    assert _check(cache, jti, expires_in=-1) is True
    assert _check(cache, jti) is True  # stale row: the old token can no longer authenticate
    assert _check(cache, jti) is False


def test_two_instances_racing_with_the_same_token_admit_it_once(database_url: str) -> None:  # noqa: F811
    caches = [_cache(database_url), _cache(database_url)]  # separate engines, as in two instances
    jti = str(uuid.uuid4())
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: _check(caches[i % 2], jti), range(16)))
    assert results.count(True) == 1


def test_a_token_seen_by_another_process_is_a_replay_here(database_url: str) -> None:  # noqa: F811
    jti = str(uuid.uuid4())
    script = (
        "import asyncio, sys\n"
        "from datetime import UTC, datetime, timedelta\n"
        "from cds_service.storage.db import make_engine, run_migrations\n"
        "from cds_service.storage.replay import SqlReplayCache\n"
        "engine = make_engine(sys.argv[1]); run_migrations(engine)\n"
        "ok = asyncio.run(SqlReplayCache(engine).check_and_store(sys.argv[2], sys.argv[3],"
        " datetime.now(UTC) + timedelta(minutes=5)))\n"
        "print('fresh' if ok else 'replay')\n"
    )
    first = subprocess.run(
        [sys.executable, "-c", script, database_url, jti, ISSUER], capture_output=True, text=True, timeout=60
    )
    assert first.stdout.strip() == "fresh", first.stderr
    assert _check(_cache(database_url), jti) is False
    second = subprocess.run(
        [sys.executable, "-c", script, database_url, jti, ISSUER], capture_output=True, text=True, timeout=60
    )
    assert second.stdout.strip() == "replay", second.stderr


def test_database_down_raises_quickly_for_the_outage_policy_to_decide() -> None:
    """The store itself never falls back: `GuardedReplayCache` applies CDS_REPLAY_OUTAGE."""
    import time

    import pytest

    from cds_service.auth.replay import GuardedReplayCache, ReplayStoreUnavailable

    cache = SqlReplayCache(make_engine("postgresql+psycopg://postgres@127.0.0.1:9/test"))
    started = time.monotonic()
    with pytest.raises(Exception):  # noqa: B017 - connection refused, then the breaker
        _check(cache, str(uuid.uuid4()))
    assert time.monotonic() - started < 3
    rejecting = GuardedReplayCache(cache, "reject")
    with pytest.raises(ReplayStoreUnavailable):
        _check(rejecting, str(uuid.uuid4()))  # type: ignore[arg-type]
    remembering = GuardedReplayCache(cache, "memory")
    jti = str(uuid.uuid4())
    assert _check(remembering, jti) is True  # type: ignore[arg-type]
    assert _check(remembering, jti) is False  # type: ignore[arg-type]  # still refused within this process
    assert remembering.fallback_uses == 2
