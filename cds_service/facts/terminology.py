"""Terminology lookups over the generated tables in `facts/data/` (see scripts/build_terminology.py).

Loaded once per process (module-level cache). Lookups are dictionary hits; the name fallback is
one precompiled regular expression, memoized per text.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from cds_service.facts.model import ConditionCategory, DrugClass, LabKind, Route

RXNORM_SYSTEMS = frozenset(
    {
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        "urn:oid:2.16.840.1.113883.6.88",
        "rxnorm",
    }
)
LOINC_SYSTEMS = frozenset({"http://loinc.org", "urn:oid:2.16.840.1.113883.6.1"})
SNOMED_SYSTEMS = frozenset({"http://snomed.info/sct", "urn:oid:2.16.840.1.113883.6.96"})
ICD10_SYSTEMS = frozenset(
    {
        "http://hl7.org/fhir/sid/icd-10-cm",
        "urn:oid:2.16.840.1.113883.6.90",
        "http://hl7.org/fhir/sid/icd-10",
        "urn:oid:2.16.840.1.113883.6.3",
    }
)


@dataclass(frozen=True, slots=True)
class IngredientStrength:
    ingredient: str
    strength_mg: float | None  # per unit (tablet/capsule) or per mL when per_ml
    per_ml: bool


@dataclass(frozen=True, slots=True)
class Product:
    """An RxNorm clinical or branded drug (or pack/component) that contains a rule ingredient."""

    rxcui: str
    name: str
    ingredients: tuple[IngredientStrength, ...]
    component_count: int  # all components, including ingredients the rules ignore
    form: str | None
    route: Route
    brand: str | None
    extended_release: bool = False  # RxNorm "Extended Release" / "12 HR" / "24 HR", or an ER-only brand (Amrix)

    @property
    def ingredient_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i.ingredient for i in self.ingredients))


def _load(name: str) -> dict[str, Any]:
    return json.loads(resources.files("cds_service.facts").joinpath("data", name).read_text("utf-8"))


@cache
def _products() -> dict[str, Product]:
    raw = _load("rxnorm_products.json")["products"]
    out: dict[str, Product] = {}
    for rxcui, p in raw.items():
        out[rxcui] = Product(
            rxcui=rxcui,
            name=p["name"],
            ingredients=tuple(
                IngredientStrength(i["ingredient"], i["strength_mg"], bool(i["per_ml"])) for i in p["ingredients"]
            ),
            component_count=int(p["components"]),
            form=p["form"],
            route=Route(p["route"]),
            brand=p["brand"],
            extended_release=bool(p.get("extended_release")),
        )
    return out


@cache
def _ingredient_codes() -> dict[str, str]:
    return {code: v["ingredient"] for code, v in _load("rxnorm_products.json")["ingredient_codes"].items()}


@cache
def _brands() -> dict[str, tuple[str, ...]]:
    return {b.lower(): tuple(v) for b, v in _load("rxnorm_products.json")["brands"].items()}


@cache
def _classes() -> dict[str, frozenset[DrugClass]]:
    return {k: frozenset(DrugClass(c) for c in v) for k, v in _load("drug_classes.json")["classes"].items()}


@cache
def _name_pattern() -> re.Pattern[str]:
    words = set(_classes()) | set(_brands())
    alternatives = sorted(words, key=len, reverse=True)
    body = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in alternatives)
    return re.compile(r"(?<![\w-])(" + body + r")(?![\w-])", re.IGNORECASE)


@cache
def _conditions() -> tuple[dict[str, frozenset[ConditionCategory]], dict[str, frozenset[ConditionCategory]]]:
    prefixes: dict[str, set[ConditionCategory]] = {}
    snomed: dict[str, set[ConditionCategory]] = {}
    for category, entry in _load("conditions.json")["categories"].items():
        for prefix in entry["icd10_prefixes"]:
            prefixes.setdefault(prefix, set()).add(ConditionCategory(category))
        for code in entry["snomed"]:
            snomed.setdefault(code, set()).add(ConditionCategory(category))
    return (
        {k: frozenset(v) for k, v in prefixes.items()},
        {k: frozenset(v) for k, v in snomed.items()},
    )


@cache
def _brand_routes() -> dict[str, Route]:
    return {b.lower(): Route(r) for b, r in _load("rxnorm_products.json").get("brand_routes", {}).items()}


@cache
def _extended_release_brands() -> frozenset[str]:
    return frozenset(b.lower() for b in _load("rxnorm_products.json").get("extended_release_brands", ()))


@cache
def _labs() -> dict[str, LabKind]:
    data = _load("labs.json")
    out = {code: LabKind.POTASSIUM for code in data["potassium"]["codes"]}
    out.update({code: LabKind.MAGNESIUM for code in data["magnesium"]["codes"]})
    out.update({code: LabKind.EGFR for code in data["egfr"]["codes"]})
    out.update({code: LabKind.CREATININE for code in data["creatinine"]["codes"]})
    return out


@cache
def _creatinine_units() -> dict[str, str]:
    return {code: entry["unit"] for code, entry in _load("labs.json")["creatinine"]["codes"].items()}


@cache
def _egfr_preferred() -> frozenset[str]:
    return frozenset(code for code, entry in _load("labs.json")["egfr"]["codes"].items() if entry.get("preferred"))


@cache
def _potassium_mass_codes() -> frozenset[str]:
    return frozenset(_load("labs.json")["potassium"]["mass_codes"])


def table_meta() -> dict[str, Any]:
    """Sources and generation date of the product table (for /about pages and audits)."""
    return _load("rxnorm_products.json")["meta"]


# --- public lookups ----------------------------------------------------------------------------


def product(rxcui: str) -> Product | None:
    return _products().get(rxcui.strip())


def ingredient_for_code(rxcui: str) -> str | None:
    """An ingredient RxCUI (IN/PIN) from codes.json; some of these are marked unverified there."""
    return _ingredient_codes().get(rxcui.strip())


def classes_for(ingredients: Iterable[str]) -> frozenset[DrugClass]:
    table = _classes()
    out: set[DrugClass] = set()
    for ingredient in ingredients:
        out |= table.get(ingredient, frozenset())
    return frozenset(out)


def known_ingredients() -> frozenset[str]:
    return frozenset(_classes())


def brand_names() -> dict[str, tuple[str, ...]]:
    return dict(_brands())


@cache
def _leading_words() -> frozenset[str]:
    """The first word (run of word characters) of every name `_name_pattern` knows, lower case."""
    names = set(_classes()) | set(_brands())
    return frozenset(match.group(0) for name in names if (match := _LEADING_WORD.match(name)))


_LEADING_WORD = re.compile(r"\w+")
_WORD_AT_BOUNDARY = re.compile(r"(?<![\w-])\w+")  # where a name may begin: the pattern's own look-behind


def _name_matches(text: str) -> Iterator[re.Match[str]]:
    """`_name_pattern().finditer(text)`, trying the pattern only where a word begins that some name
    begins with. The pattern is an alternation of ~700 names (9,000 characters): scanning it over a
    sig's text cost 25-80 us, every position trying every name; a new text is read on most cold
    calls. Non-ASCII text keeps the full scan (case-insensitive Unicode matching folds characters
    that `str.lower` does not, e.g. the Kelvin sign)."""
    pattern = _name_pattern()
    if not text.isascii():
        yield from pattern.finditer(text)
        return
    leading = _leading_words()
    resume = 0
    for word in _WORD_AT_BOUNDARY.finditer(text):
        if word.start() < resume or word.group(0).lower() not in leading:
            continue
        match = pattern.match(text, word.start())
        if match:
            resume = match.end()
            yield match


@lru_cache(maxsize=4096)
def ingredients_in_text(text: str) -> tuple[str, ...]:
    """Rule ingredients named in free text, by ingredient or brand name (case-insensitive words)."""
    found: list[str] = []
    classes = _classes()
    brands = _brands()
    for match in _name_matches(text):
        word = re.sub(r"\s+", " ", match.group(1).lower())
        if word in classes:
            found.append(word)
        else:
            found.extend(brands.get(word, ()))
    return tuple(dict.fromkeys(found))


def condition_categories(system: str | None, code: str | None) -> frozenset[ConditionCategory]:
    if not code:
        return frozenset()
    prefixes, snomed = _conditions()
    system = (system or "").strip()
    if system in SNOMED_SYSTEMS:
        return snomed.get(code.strip(), frozenset())
    if system in ICD10_SYSTEMS:
        normalized = code.replace(".", "").strip().upper()
        out: set[ConditionCategory] = set()
        for length in range(3, len(normalized) + 1):
            out |= prefixes.get(normalized[:length], frozenset())
        return frozenset(out)
    return frozenset()


def lab_kind(loinc: str | None) -> LabKind | None:
    return _labs().get((loinc or "").strip())


def is_potassium_mass_code(loinc: str | None) -> bool:
    return (loinc or "").strip() in _potassium_mass_codes()


def creatinine_code_unit(loinc: str | None) -> str | None:
    """The unit a creatinine LOINC code is defined in: "mg/dL" (mass) or "umol/L" (moles)."""
    return _creatinine_units().get((loinc or "").strip())


def is_preferred_egfr_code(loinc: str | None) -> bool:
    """The race-free CKD-EPI 2021 eGFR codes, preferred among results of the same day."""
    return (loinc or "").strip() in _egfr_preferred()


_ER_WORDS = re.compile(r"(?i:extended[- ]release|\b\d+\s*HR\b|\bext\.?\s*rel)|\b(?:ER|XR|XL|SR|CR)\b")


@lru_cache(maxsize=4096)
def is_extended_release_text(text: str) -> bool:
    """An order's name says extended release (RxNorm "24 HR ... Extended Release", "ER", an ER-only brand)."""
    if _ER_WORDS.search(text):
        return True
    lowered = text.lower()
    return any(re.search(r"(?<![\w-])" + re.escape(b) + r"(?![\w-])", lowered) for b in _extended_release_brands())


@lru_cache(maxsize=4096)
def route_in_text(text: str) -> Route | None:
    """The route a brand in the text implies (Ryanodex and Revonto are IV dantrolene), or None."""
    lowered = text.lower()
    for brand, route in _brand_routes().items():
        if re.search(r"(?<![\w-])" + re.escape(brand) + r"(?![\w-])", lowered):
            return route
    return None


def generic_product_for_dose(ingredient: str, per_dose_mg: float, form: str | None) -> Product | None:
    """A generic single-ingredient product of `form` whose tablet gives `per_dose_mg` in one or two
    units (one preferred): what a dose-change suggestion should order when the current strength
    cannot give the new dose in whole or half tablets."""
    best: tuple[int, Product] | None = None
    for strength_mg, item in _generic_strengths().get((ingredient, form or "Oral Tablet"), ()):
        for units in (1, 2):
            if abs(strength_mg * units - per_dose_mg) < 1e-6 and (best is None or units < best[0]):
                best = (units, item)
    return best[1] if best else None


@cache
def _generic_strengths() -> dict[tuple[str, str | None], tuple[tuple[float, Product], ...]]:
    """(ingredient, form) → the generic single-ingredient products by strength, in table order."""
    found: dict[tuple[str, str | None], list[tuple[float, Product]]] = {}
    for item in _products().values():
        if item.brand is not None or len(item.ingredients) != 1:
            continue
        only = item.ingredients[0]
        if only.per_ml or not only.strength_mg:
            continue
        found.setdefault((only.ingredient, item.form), []).append((only.strength_mg, item))
    return {key: tuple(items) for key, items in found.items()}


def load_tables() -> None:
    """Read every table now (the instance's warm-up), not during the first call that needs one: the
    RxNorm ingredient codes alone take ~35 ms to load. A table is a cached function of no arguments."""
    for value in list(globals().values()):
        if callable(value) and hasattr(value, "cache_info") and not inspect.signature(value).parameters:
            value()
