"""Reading Prometheus exposition text in tests: samples by name and labels."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

ADMIN_TOKEN = "metrics-admin-token-5f0c2a"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    found: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(text_or_samples: Any, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels` (0 when none)."""
    found = samples(text_or_samples) if isinstance(text_or_samples, str) else text_or_samples
    wanted = set(labels.items())
    return sum(v for (n, ls), v in found.items() if n == name and wanted <= set(ls))


def scrape(client: Any) -> str:
    response = client.get("/metrics", headers=ADMIN)
    assert response.status_code == 200, response.text
    return str(response.text)
