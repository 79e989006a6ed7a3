"""The one liver reading in the dose judgment (issue 19, item 7): cyclobenzaprine's hepatic severity
comes from `facts.hepatic`, and the judgment's labelled dose, ceiling and "not recommended" follow the
labels at each edge; the suggestion guard and max-daily-dose read the same judgment."""

from __future__ import annotations

from dataclasses import replace

from cds_service.cards import max_daily_dose
from cds_service.cards.thresholds import Thresholds
from cds_service.facts.hepatic import HepaticSeverity
from cds_service.facts.judgment import CautionKind, judgment_of, suggestion_outside
from cds_service.facts.model import ConditionCategory as Cat
from cds_service.facts.orders import with_daily_dose
from tests.support.facts import T, cond, facts, med, only

CIRRHOSIS = cond(Cat.CIRRHOSIS, "K74.60", "Unspecified cirrhosis of liver")
ASCITES_CIRRHOSIS = replace(
    cond(Cat.CIRRHOSIS, "K70.31", "Alcoholic cirrhosis of liver with ascites"),
    categories=frozenset({Cat.CIRRHOSIS, Cat.LIVER_DISEASE, Cat.HEPATIC_DECOMPENSATION, Cat.ASCITES}),
)
CHILD_PUGH_B = cond(Cat.LIVER_DISEASE, "K76.9", "Liver disease, Child-Pugh class B")
FATTY_LIVER = cond(Cat.LIVER_DISEASE, "K76.0", "Fatty (change of) liver")


def ir(mg_per_day: float | None = 15):
    return med("cyclobenzaprine", mg_per_day, draft=True, display="Cyclobenzaprine hydrochloride 5 MG Oral Tablet")


def amrix():
    return med("cyclobenzaprine", 15, draft=True, extended_release=True, display="Amrix 15 MG ER Capsule")


def _judge(order, conditions=(), t=T):
    f = facts(drafts=(order,), conditions=conditions)
    return judgment_of(f, order, t), f


def test_immediate_release_in_mild_impairment_allows_15_not_15_1_mg_per_day() -> None:
    j, f = _judge(ir(), (CIRRHOSIS,))
    assert j.hepatic.severity is HepaticSeverity.MILD and j.hepatic_adjusted and j.has_labelled_dose
    assert j.ceiling_mg_per_day == T.cyclobenzaprine_mild_hepatic_max_mg_per_day == 15
    assert j.label_max_mg_per_day == 30  # the label's own maximum is kept apart from the adjusted ceiling
    assert j.allows(15) and not j.allows(15.1)
    assert "5 mg, titrated slowly, less often" in (j.caution(CautionKind.HEPATIC) or "").text  # type: ignore[union-attr]
    draft = f.drafts_in_scope[0]
    assert suggestion_outside(f, T, with_daily_dose(draft, 15, 3)) is None
    assert "above the 15 mg/day" in (suggestion_outside(f, T, with_daily_dose(draft, 30, 3)) or "")


def test_a_site_threshold_moves_the_mild_ceiling() -> None:
    j, _ = _judge(ir(), (CIRRHOSIS,), Thresholds(cyclobenzaprine_mild_hepatic_max_mg_per_day=10))
    assert j.ceiling_mg_per_day == 10 and not j.allows(15)


def test_immediate_release_in_moderate_or_severe_impairment_has_no_labelled_dose() -> None:
    for liver in (ASCITES_CIRRHOSIS, CHILD_PUGH_B):
        j, f = _judge(ir(5), (liver,))
        assert j.hepatic.severity is HepaticSeverity.MODERATE_OR_SEVERE
        assert not j.has_labelled_dose and j.max_suggestable() is None and not j.allows(5)
        assert "not recommended in moderate or severe hepatic impairment (label)" in (j.no_dose_reason or "")
        assert j.caution(CautionKind.HEPATIC_NOT_RECOMMENDED) is not None
        assert "no labelled dose" in (suggestion_outside(f, T, with_daily_dose(f.drafts_in_scope[0], 5, 1)) or "")


def test_amrix_in_mild_impairment_has_no_labelled_dose() -> None:
    j, _ = _judge(amrix(), (CIRRHOSIS,))
    assert j.hepatic.severity is HepaticSeverity.MILD and not j.has_labelled_dose
    assert j.no_dose_reason == "extended-release cyclobenzaprine is not recommended in hepatic impairment (label)"
    assert "Immediate-release cyclobenzaprine at 5 mg" in j.consider


def test_no_liver_impairment_leaves_the_label_ceiling() -> None:
    for conditions in ((), (FATTY_LIVER,)):
        j, _ = _judge(ir(30), conditions)
        assert j.hepatic.severity is HepaticSeverity.NONE and not j.hepatic_adjusted
        assert j.has_labelled_dose and j.ceiling_mg_per_day == j.label_max_mg_per_day == 30
        assert j.allows(30) and not j.allows(30.5)


def test_dantrolene_reads_active_liver_disease_not_the_severity() -> None:
    dantrolene = med("dantrolene", 75, draft=True)
    j, _ = _judge(dantrolene, (cond(Cat.ACTIVE_LIVER_DISEASE, "K73.9"),))
    assert "contraindicated in active liver disease" in (j.no_dose_reason or "")
    j_cirrhosis_only, _ = _judge(dantrolene, (CIRRHOSIS,))  # no active-liver-disease category: as before
    assert j_cirrhosis_only.has_labelled_dose


def test_max_daily_dose_names_no_dose_in_moderate_or_severe_impairment_and_the_mild_ceiling() -> None:
    severe = only(max_daily_dose.evaluate(facts(drafts=[ir(40)], conditions=[ASCITES_CIRRHOSIS])))
    assert "no labelled dose here" in severe.summary and "mg/day or less" not in severe.summary
    assert severe.suggestions is None
    mild = only(max_daily_dose.evaluate(facts(drafts=[ir(40)], conditions=[CIRRHOSIS])))
    assert mild.summary == "Lower cyclobenzaprine to 15 mg/day or less: 40 mg/day ordered"
    assert max_daily_dose.evaluate(facts(drafts=[ir(30)], conditions=[CIRRHOSIS])) == []  # the hepatic rule speaks
