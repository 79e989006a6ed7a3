"""The warm-up patient (issue 13: no cold start) must reach the code a real chart reaches: every
resource it carries is read, none skipped, and each hook answers with the cards such a chart gets."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from fastapi.testclient import TestClient

from cds_service.facts.build import build_facts, read_drafts
from cds_service.facts.model import DrugClass
from cds_service.protocol.services import SERVICES
from cds_service.protocol.warm_up import warm_up_request


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_resource_of_the_warm_up_patient_is_read(service: str) -> None:
    hook = SERVICES[service].hook
    request = orjson.loads(warm_up_request(hook))
    now = datetime.now(UTC)
    drafts = read_drafts(hook, request["context"], now)
    facts = build_facts(hook, request["context"], request["prefetch"], now, drafts=drafts)
    assert facts.skipped == ()
    assert facts.age_years is not None and facts.age_years >= 65
    assert len(facts.medications) == 4  # coded, referenced (contained Medication), completed
    tramadol = next(m for m in facts.medications if "tramadol" in m.ingredients)
    assert tramadol.daily_dose.mg_per_day == 400  # the contained Medication's strength × the range's high end
    assert facts.potassium is not None and facts.magnesium is not None and facts.renal is not None
    assert len(facts.conditions) == 3
    if hook != "patient-view":
        assert [d.ingredients for d in facts.drafts_in_scope] == [("cyclobenzaprine",)]
        assert DrugClass.SEROTONERGIC in facts.drafts_in_scope[0].classes


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_hook_answers_the_warm_up_patient_with_cards(client: TestClient, service: str) -> None:
    response = client.post(f"/cds-services/{service}", content=warm_up_request(SERVICES[service].hook))
    assert response.status_code == 200
    body = response.json()
    assert "extension" not in body  # nothing skipped
    assert body["cards"], "a chart with findings: the rules' card paths are warmed too"


def test_after_the_warm_up_the_cyclic_gc_runs_rarely(client: TestClient) -> None:
    """The started app (the client fixture ran its lifespan) raised the GC's thresholds: a call's
    tens of thousands of acyclic objects no longer set off a collection per call."""
    import gc

    from cds_service.app import GC_THRESHOLDS

    assert gc.get_threshold() == GC_THRESHOLDS
    assert GC_THRESHOLDS[0] >= 10_000
