"""Which orders a rule speaks about, and which drugs count together.

Order hooks speak about the drafts in scope (the selected ones at order-select, all at order-sign);
the patient's other orders and drafts count only as partners in a combination. Patient-view speaks
about the active medications. Combination checks count drugs, not orders, so a renewal or a second
strength is never a combination. A stop order is never a drug the patient will take: it is left
out of every pool here (the withdrawal rule reads stops itself).

Combination rules speak only when a drug of the combination is one this service is about (a muscle
relaxant or antispasmodic, or a benzodiazepine ordered for spasm): sertraline + ondansetron or
oxycodone + gabapentin belong to the EHR's general interaction screening.
"""

from __future__ import annotations

from collections.abc import Iterable

from cds_service.cdshooks import ORDER_HOOKS
from cds_service.facts.model import ConditionCategory, DrugClass, Indication, MedicationFact, PatientFacts

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
# AGS Beers 2023 "three or more CNS-active drugs": antiepileptics, antidepressants, antipsychotics,
# benzodiazepines, Z-drugs, opioids, gabapentinoids, skeletal muscle relaxants.
CNS_ACTIVE_CLASSES = frozenset(
    {
        *MUSCLE_RELAXANT_CLASSES,
        DrugClass.BENZODIAZEPINE,
        DrugClass.Z_DRUG,
        DrugClass.OPIOID,
        DrugClass.GABAPENTINOID,
        DrugClass.ANTIDEPRESSANT,
        DrugClass.SSRI,
        DrugClass.SNRI,
        DrugClass.TCA,
        DrugClass.MAOI,
        DrugClass.ANTIPSYCHOTIC,
        DrugClass.ANTIEPILEPTIC,
    }
)
# Indications that make a benzodiazepine order one for spasm (S8), so within this service's scope.
SPASM_INDICATIONS = frozenset(
    {
        Indication.SPASTICITY,
        Indication.ACUTE_MUSCULOSKELETAL,
        Indication.CRAMPS,
        Indication.CRAMPS_WITH_LIVER_DISEASE,
    }
)
# Serotonergic only beside cyclobenzaprine: its label names verapamil; other labels do not.
SEROTONERGIC_ONLY_WITH_CYCLOBENZAPRINE = frozenset({"verapamil"})


def is_order_hook(facts: PatientFacts) -> bool:
    return facts.hook in ORDER_HOOKS


def subject_medications(facts: PatientFacts) -> tuple[MedicationFact, ...]:
    """What the hook speaks about: the drafts in scope (order hooks) or the active medications.

    Stop orders are left out: a drug being stopped is not one the patient will take.
    """
    if is_order_hook(facts):
        return tuple(m for m in facts.drafts_in_scope if not m.is_stop)
    return facts.active_medications()


def combination_pool(facts: PatientFacts) -> tuple[MedicationFact, ...]:
    """Medications that would be taken together: drafts + current orders (order hooks), or current.

    A stop draft replaces the order it names (same reference) and is itself left out.
    """
    pool = facts.would_be_active() if is_order_hook(facts) else facts.active_medications()
    return tuple(m for m in pool if not m.is_stop)


def is_spasm_benzodiazepine(facts: PatientFacts, medication: MedicationFact) -> bool:
    """A benzodiazepine ordered for spasm, as far as its indication tells (S8)."""
    return medication.in_class(DrugClass.BENZODIAZEPINE) and facts.indication_of(medication).indication in (
        SPASM_INDICATIONS
    )


def is_service_drug(facts: PatientFacts, medication: MedicationFact) -> bool:
    """A drug this service is about: a muscle relaxant or antispasmodic, or a benzodiazepine for spasm."""
    return is_muscle_relaxant(medication) or is_spasm_benzodiazepine(facts, medication)


def is_cns_active(medication: MedicationFact) -> bool:
    return in_any_class(medication, CNS_ACTIVE_CLASSES)


def in_any_class(medication: MedicationFact, classes: Iterable[DrugClass]) -> bool:
    return not medication.classes.isdisjoint(classes)


def is_serotonergic(medication: MedicationFact, *, beside_cyclobenzaprine: bool = False) -> bool:
    """Serotonergic by class; cyclobenzaprine by ingredient too (FDA label 2013 serotonin warning).

    Verapamil counts only beside cyclobenzaprine (`beside_cyclobenzaprine`): that label names it.
    """
    if not SEROTONERGIC_ONLY_WITH_CYCLOBENZAPRINE.isdisjoint(medication.ingredients):
        return beside_cyclobenzaprine  # the terminology does not class verapamil serotonergic
    return in_any_class(medication, SEROTONERGIC_CLASSES) or medication.has("cyclobenzaprine")


def is_cns_depressant(medication: MedicationFact) -> bool:
    return in_any_class(medication, CNS_DEPRESSANT_CLASSES)


# The relaxants by name too: a safety net for an order whose classes did not come through.
RELAXANT_INGREDIENTS = frozenset(
    {
        "baclofen",
        "tizanidine",
        "cyclobenzaprine",
        "dantrolene",
        "carisoprodol",
        "chlorzoxazone",
        "metaxalone",
        "methocarbamol",
        "orphenadrine",
    }
)


def is_muscle_relaxant(medication: MedicationFact) -> bool:
    return in_any_class(medication, MUSCLE_RELAXANT_CLASSES) or not RELAXANT_INGREDIENTS.isdisjoint(
        medication.ingredients
    )


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


RENAL_CONDITIONS = (
    ConditionCategory.RENAL_IMPAIRMENT,
    ConditionCategory.CKD_STAGE_3,
    ConditionCategory.CKD_STAGE_4,
    ConditionCategory.CKD_STAGE_5,
    ConditionCategory.DIALYSIS,
)


def renal_function_known(facts: PatientFacts) -> bool:
    """An eGFR, a CKD stage or dialysis is on record (facts.renal), or a kidney condition."""
    renal = facts.renal
    if renal is not None and (renal.egfr is not None or renal.ckd_stage is not None or renal.on_dialysis):
        return True
    return bool(facts.conditions_in(*RENAL_CONDITIONS))
