"""Label facts the judgment applies: which label covers which product, the pediatric ages, the oral
starts. Quoted from the labels (see shared/reference/clinical-facts.md), not configurable; the numbers
a site may tune are `Thresholds` fields and are read from there.
"""

from __future__ import annotations

from cds_service.facts import terminology
from cds_service.facts.model import DrugClass, MedicationFact, Route

# --- pediatric ages: below `min_age_years` the label has not established safety and effectiveness.
# FDA labeling calls birth to 16 years "pediatric" (21 CFR 201.57(c)(9)(iv)), so a label that gives
# adult dosing only is read as "under 17". Checked against label text (DailyMed copies) and the Texas
# Vendor Drug Program DUR pediatric table. (Moved from cards/thresholds.py, which re-exports it.)
PEDIATRIC_LABEL_AGES: dict[str, tuple[int, str]] = {
    # ingredient: (min age in years, what the label says)
    "baclofen": (12, "oral baclofen tablet label: not established below the age of 12"),
    "cyclobenzaprine": (15, "cyclobenzaprine IR label: not established below 15 years of age"),
    "cyclobenzaprine-er": (17, "Amrix (ER) label: not established in pediatric patients (adolescents included)"),
    "methocarbamol": (16, "methocarbamol label: not established below the age of 16"),
    "carisoprodol": (16, "carisoprodol label: not established in patients less than 16 years of age"),
    # The issue said 16; the label doses "adults and children over 12", so the caution is at 12 and below.
    "metaxalone": (13, "metaxalone label: dosing for adults and children over 12 years of age"),
    "orphenadrine": (17, "orphenadrine ER label: adult dosing only; pediatric use not established"),
    "chlorzoxazone": (17, "chlorzoxazone label: usual adult dosage only; pediatric use not established"),
    "tizanidine": (17, "tizanidine label: safety and effectiveness in pediatric patients not established"),
    # Dantrolene's label gives weight-based pediatric dosing; long-term safety below 5 is not established.
    "dantrolene": (5, "oral dantrolene label: weight-based pediatric dosing; not established below 5 years"),
}
ADULT_AGE_YEARS = 17  # FDA labeling: pediatric is birth to 16 years

# ingredient -> (the oral label's name, the Thresholds field with its maximum daily dose)
ORAL_LABELS: dict[str, tuple[str, str]] = {
    "baclofen": ("FDA oral baclofen label", "baclofen_label_max_mg_per_day"),
    "cyclobenzaprine": ("FDA cyclobenzaprine label", "cyclobenzaprine_max_mg_per_day"),
    "tizanidine": ("FDA tizanidine label", "tizanidine_max_mg_per_day"),
    "methocarbamol": ("FDA methocarbamol label", "methocarbamol_max_mg_per_day"),
    "carisoprodol": ("FDA carisoprodol label", "carisoprodol_max_mg_per_day"),
    "metaxalone": ("FDA metaxalone label", "metaxalone_max_mg_per_day"),
    "orphenadrine": ("FDA orphenadrine label", "orphenadrine_max_mg_per_day"),
    "chlorzoxazone": ("FDA chlorzoxazone label", "chlorzoxazone_max_mg_per_day"),
    "dantrolene": ("FDA oral dantrolene label", "dantrolene_max_mg_per_day"),
}
AMRIX_LABEL = "FDA Amrix (extended-release cyclobenzaprine) label"

# Products whose own label governs, not the oral one (issue 19, item 1): what the card may name.
OWN_LABELS: dict[tuple[str, str], str] = {
    ("baclofen", "intrathecal"): "FDA intrathecal baclofen label (dosed in micrograms by the pump team)",
    ("dantrolene", "injection"): "FDA intravenous dantrolene label (malignant hyperthermia: 2.5 mg/kg, repeated)",
    ("methocarbamol", "injection"): "FDA methocarbamol injection label",
    ("orphenadrine", "injection"): "FDA orphenadrine injection label",
}

# Only baclofen's start and step are judged (Thresholds fields: the cramp plan's and the label's). The
# other labels give a usual range rather than one start (cyclobenzaprine 5 mg three times a day,
# "may be increased to 10 mg"; Amrix 15 mg, "some patients may require up to 30 mg"), so their start
# is left unjudged (None) rather than made a limit the labels do not set.

_LIQUID_WORDS = ("solution", "suspension", "liquid", "syrup", "elixir")
_INJECTION_WORDS = ("injection", "injectable", "intravenous", "for infusion")


def dose_form(order: MedicationFact) -> str:
    """The product's dose form, in a word: from the RxNorm product when known, else the order's name."""
    product = terminology.product(order.rxnorm_code) if order.rxnorm_code else None
    text = " ".join(t for t in ((product.form if product else None) or "", order.display) if t).lower()
    if order.route is Route.INTRATHECAL or "intrathecal" in text:
        return "intrathecal"
    if order.route is Route.INJECTION or any(word in text for word in _INJECTION_WORDS):
        return "injection"
    if any(word in text for word in ("granule", "packet", "sachet")):
        return "granules"
    if order.strength_per_ml or any(word in text for word in _LIQUID_WORDS):
        return "oral liquid"
    if "capsule" in text:
        return "capsule"
    if "tablet" in text or "pill" in text:
        return "tablet"
    return "unknown"


def main_ingredient(order: MedicationFact) -> str | None:
    """The muscle relaxant the order is for (the first one the oral labels cover), else its first ingredient."""
    covered = [i for i in order.ingredients if i in ORAL_LABELS]
    if covered:
        return covered[0]
    return order.ingredients[0] if order.ingredients else None


def is_beers_avoid_relaxant(order: MedicationFact) -> bool:
    """One of the six antispasmodic muscle relaxants Beers 2023 says to avoid at 65 and over."""
    return order.in_class(DrugClass.ANTISPASMODIC_BEERS)
