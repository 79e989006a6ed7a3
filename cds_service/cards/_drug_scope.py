"""Helpers shared by the medication-combination and medication-safety rules.

They answer the scoping questions every such rule asks the same way: which orders does this hook
speak about, which medications would be active, how to name an order or a condition in a card
detail (escaped, with the patient's own dates), and how to offer "remove this draft".
Not a rule module (leading underscore: skipped by the registry).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from cds_service.cards.base import escape_md, suggestion
from cds_service.cdshooks import ORDER_HOOKS, Action, Suggestion
from cds_service.facts.model import ConditionFact, DrugClass, MatchMethod, MedicationFact, PatientFacts

SEROTONERGIC_CLASSES = frozenset(
    {DrugClass.SEROTONERGIC, DrugClass.SSRI, DrugClass.SNRI, DrugClass.TCA, DrugClass.TRIPTAN, DrugClass.MAOI}
)
# Classes counted as CNS depressants for the sedation check (issue 4 table; Beers 2023 CNS-active list).
CNS_DEPRESSANT_CLASSES = frozenset(
    {
        DrugClass.MUSCLE_RELAXANT,
        DrugClass.ANTISPASTICITY,
        DrugClass.ANTISPASMODIC_BEERS,
        DrugClass.BENZODIAZEPINE,
        DrugClass.OPIOID,
        DrugClass.GABAPENTINOID,
        DrugClass.Z_DRUG,
        DrugClass.CNS_DEPRESSANT,
    }
)
MUSCLE_RELAXANT_CLASSES = frozenset(
    {DrugClass.MUSCLE_RELAXANT, DrugClass.ANTISPASTICITY, DrugClass.ANTISPASMODIC_BEERS}
)

_ENDED_CLINICAL_STATUSES = frozenset({"inactive", "resolved", "remission"})
_NOT_TRUE_VERIFICATION = frozenset({"refuted", "entered-in-error"})


def is_order_hook(facts: PatientFacts) -> bool:
    return facts.hook in ORDER_HOOKS


def subject_medications(facts: PatientFacts) -> tuple[MedicationFact, ...]:
    """What the hook speaks about: the drafts in scope (order hooks) or the active medications."""
    return facts.draft_orders if is_order_hook(facts) else facts.active_medications()


def combination_pool(facts: PatientFacts) -> tuple[MedicationFact, ...]:
    """Medications that would be active together: drafts + active orders (order hooks), or active."""
    return facts.would_be_active() if is_order_hook(facts) else facts.active_medications()


def in_any_class(medication: MedicationFact, classes: Iterable[DrugClass]) -> bool:
    return not medication.classes.isdisjoint(classes)


def is_serotonergic(medication: MedicationFact) -> bool:
    """Serotonergic by class; cyclobenzaprine by ingredient too (FDA label 2013 serotonin warning)."""
    return in_any_class(medication, SEROTONERGIC_CLASSES) or medication.has("cyclobenzaprine")


def is_cns_depressant(medication: MedicationFact) -> bool:
    return in_any_class(medication, CNS_DEPRESSANT_CLASSES)


def is_muscle_relaxant(medication: MedicationFact) -> bool:
    return in_any_class(medication, MUSCLE_RELAXANT_CLASSES)


def main_name(medication: MedicationFact) -> str:
    """The ingredient(s) in plain words, e.g. 'cyclobenzaprine' or 'tramadol/acetaminophen'."""
    return "/".join(medication.ingredients) if medication.ingredients else medication.display


def fmt_date(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else "date not recorded"


def describe_order(medication: MedicationFact) -> str:
    """Escaped markdown naming an order the way a clinician finds it in the chart."""
    if medication.is_draft:
        state = "draft order being placed now"
    else:
        state = f"{medication.status or 'unknown status'} order, since {fmt_date(medication.start)}"
    text = f"**{escape_md(medication.display)}** ({state}; {escape_md(medication.reference)})"
    if medication.match == MatchMethod.NAME:
        text += " — recognized by its name only, not by an RxNorm code"
    return text


def is_current_condition(condition: ConditionFact) -> bool:
    """Not resolved/inactive and not refuted or entered in error (unknown status counts as current)."""
    if condition.clinical_status and condition.clinical_status.lower() in _ENDED_CLINICAL_STATUSES:
        return False
    return not (condition.verification_status and condition.verification_status.lower() in _NOT_TRUE_VERIFICATION)


_SYSTEM_NAMES = {
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://snomed.info/sct": "SNOMED CT",
}


def describe_condition(condition: ConditionFact) -> str:
    """'**Atrial fibrillation** (ICD-10-CM I48.0, onset 2026-10-01)', escaped."""
    parts: list[str] = []
    if condition.code:
        system = _SYSTEM_NAMES.get(condition.system or "", condition.system or "code")
        parts.append(f"{system} {condition.code}")
    if condition.onset is not None:
        parts.append(f"onset {fmt_date(condition.onset)}")
    if condition.verification_status and condition.verification_status.lower() not in {"confirmed"}:
        parts.append(f"verification: {condition.verification_status}")
    suffix = f" ({escape_md(', '.join(parts))})" if parts else ""
    return f"**{escape_md(condition.display)}**{suffix}"


def remove_draft_suggestion(order: MedicationFact, reason: str, *, recommended: bool = True) -> Suggestion:
    """One-click removal of a draft order (CDS Hooks 2.0 delete with resourceId list)."""
    label = f"Remove the draft {main_name(order)} order"
    return suggestion(
        label,
        Action(type="delete", description=f"{label}: {reason}", resourceId=[order.reference]),
        recommended=recommended,
    )


def group_by_drug(medications: Iterable[MedicationFact]) -> list[list[MedicationFact]]:
    """Orders grouped into drugs: orders sharing an ingredient (a renewal, a second strength) are one drug.

    Combination checks count drugs, not orders, so a renewal never looks like a combination.
    """
    groups: list[tuple[set[str], list[MedicationFact]]] = []
    for medication in medications:
        names = set(medication.ingredients) or {medication.display.lower()}
        for group_names, members in groups:
            if group_names & names:
                group_names |= names
                members.append(medication)
                break
        else:
            groups.append((names, [medication]))
    return [members for _, members in groups]
