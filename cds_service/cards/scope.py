"""Which orders a rule speaks about, and which drugs count together.

Order hooks speak about the drafts in scope (the selected ones at order-select, all at order-sign);
the patient's other orders and drafts count only as partners in a combination. Patient-view speaks
about the active medications. Combination checks count drugs, not orders, so a renewal or a second
strength is never a combination. A stop order is never a drug the patient will take.
"""

from __future__ import annotations

from collections.abc import Iterable

from cds_service.cdshooks import ORDER_HOOKS
from cds_service.facts.model import DrugClass, MedicationFact, PatientFacts

SEROTONERGIC_CLASSES = frozenset(
    {DrugClass.SEROTONERGIC, DrugClass.SSRI, DrugClass.SNRI, DrugClass.TCA, DrugClass.TRIPTAN, DrugClass.MAOI}
)
# Classes counted as CNS depressants for the sedation check (S18; Beers 2023 CNS-active list).
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


def is_order_hook(facts: PatientFacts) -> bool:
    return facts.hook in ORDER_HOOKS


def subject_medications(facts: PatientFacts) -> tuple[MedicationFact, ...]:
    """What the hook speaks about: the drafts in scope (order hooks) or the active medications."""
    return facts.drafts_in_scope if is_order_hook(facts) else facts.active_medications()


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


def group_by_drug(medications: Iterable[MedicationFact]) -> list[list[MedicationFact]]:
    """Orders grouped into drugs: orders sharing an ingredient (a renewal, a second strength) are one drug."""
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
