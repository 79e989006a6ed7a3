"""The three services this CDS service offers, and the prefetch templates each asks for.

Every query stays within the CDS Hooks 2.0 recommended subset (reference parameters, token
equality with `system|code`, `_sort=-date`, `_count`) and within what Epic and Oracle Health
document for their R4 search APIs. The same keys are fetched from `fhirServer` when a client
leaves them out.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.cdshooks import ServiceDefinition

# Keys the facts layer reads. Fixed: rules and tests rely on them.
PATIENT = "patient"
MEDICATIONS = "medications"
POTASSIUM = "potassium"
MAGNESIUM = "magnesium"
CONDITIONS = "conditions"
RENAL = "renal"

POTASSIUM_LOINC = ("2823-3", "6298-4", "77142-8", "32713-0", "39789-3")
MAGNESIUM_LOINC = ("19123-9", "2601-3")
# eGFR (race-free codes; see facts/data/labs.json for those considered and dropped) and serum creatinine.
RENAL_LOINC = (
    "98979-8",  # eGFR CKD-EPI 2021 (creatinine)
    "98980-6",  # eGFR CKD-EPI 2021 (creatinine and cystatin C)
    "62238-1",  # eGFR CKD-EPI
    "88294-4",  # eGFR CKD-EPI, non-race value
    "48642-3",  # eGFR MDRD, non-race value
    "77147-7",  # eGFR MDRD
    "33914-3",  # eGFR MDRD in serum or plasma (older records)
    "69405-9",  # eGFR
    "50210-4",  # eGFR cystatin C
    "2160-0",  # creatinine mg/dL serum or plasma
    "38483-4",  # creatinine mg/dL blood
    "14682-9",  # creatinine µmol/L serum or plasma
    "77140-2",  # creatinine µmol/L serum, plasma or blood
)


def _codes(codes: tuple[str, ...]) -> str:
    return ",".join(f"http://loinc.org|{c}" for c in codes)


PREFETCH_TEMPLATES: dict[str, str] = {
    PATIENT: "Patient/{{context.patientId}}",
    # Active orders plus recently stopped/completed ones: dose history, MAOI washout (14 days).
    MEDICATIONS: ("MedicationRequest?patient={{context.patientId}}&status=active,on-hold,completed,stopped&_count=100"),
    POTASSIUM: f"Observation?patient={{{{context.patientId}}}}&code={_codes(POTASSIUM_LOINC)}&_sort=-date&_count=10",
    MAGNESIUM: f"Observation?patient={{{{context.patientId}}}}&code={_codes(MAGNESIUM_LOINC)}&_sort=-date&_count=10",
    CONDITIONS: "Condition?patient={{context.patientId}}&clinical-status=active,recurrence,relapse&_count=100",
    # Newest first; a few results suffice (the newest eGFR, or the newest creatinine to compute one).
    RENAL: f"Observation?patient={{{{context.patientId}}}}&code={_codes(RENAL_LOINC)}&_sort=-date&_count=10",
}

# What each key means to a clinician, for the "could not be checked" card.
PREFETCH_MEANING: dict[str, str] = {
    PATIENT: "the patient's age",
    MEDICATIONS: "the patient's current and recent medications",
    POTASSIUM: "potassium results",
    MAGNESIUM: "magnesium results",
    CONDITIONS: "the patient's active conditions",
    RENAL: "kidney function (eGFR and creatinine results)",
}


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    hook: str
    title: str
    description: str
    usage_requirements: str

    def definition(self) -> ServiceDefinition:
        return ServiceDefinition(
            hook=self.hook,
            id=self.id,
            title=self.title,
            description=self.description,
            prefetch=dict(PREFETCH_TEMPLATES),
            usageRequirements=self.usage_requirements,
        )


_USAGE = (
    "Needs read access (patient/*.read or user/*.read) to Patient, MedicationRequest, Medication, "
    "Observation (laboratory: potassium, magnesium, eGFR, creatinine) and Condition on the FHIR server, "
    "either as prefetch or through fhirAuthorization. Medications coded with RxNorm; labs with LOINC; "
    "conditions with SNOMED CT or ICD-10-CM."
)

SERVICES: dict[str, Service] = {
    s.id: s
    for s in (
        Service(
            id="muscle-spasm-order-select",
            hook="order-select",
            title="Muscle-spasm treatment: order checks while selecting",
            description=(
                "Checks the selected medication orders against a muscle-spasm treatment summary: "
                "baclofen titration, cyclobenzaprine duration and contraindications, serotonergic and "
                "sedative combinations, tizanidine interactions, electrolytes and age cautions."
            ),
            usage_requirements=_USAGE,
        ),
        Service(
            id="muscle-spasm-order-sign",
            hook="order-sign",
            title="Muscle-spasm treatment: order checks at signing",
            description=(
                "The same checks as at selection, over all draft orders about to be signed, including "
                "baclofen withdrawal when an order stops or sharply cuts an active baclofen."
            ),
            usage_requirements=_USAGE,
        ),
        Service(
            id="muscle-spasm-patient-view",
            hook="patient-view",
            title="Muscle-spasm treatment: chart summary",
            description=(
                "When the chart opens for a patient on a muscle relaxant or with a spasm/spasticity "
                "condition: current agents and doses, titration step, latest potassium and magnesium, "
                "and any course that needs attention."
            ),
            usage_requirements=_USAGE,
        ),
    )
}
