"""Every drug the rules use is recognized from a clinical-drug code, a branded-drug code and a brand
name; classes come from codes.json's drug_classes; condition and LOINC tables behave."""

from __future__ import annotations

import json
from importlib import resources

import pytest

from cds_service.facts import terminology
from cds_service.facts.medications import recognize
from cds_service.facts.model import ConditionCategory, DrugClass, LabKind, MatchMethod, Route

RX = "http://www.nlm.nih.gov/research/umls/rxnorm"

RULE_DRUGS = [
    "baclofen", "cyclobenzaprine", "tizanidine", "dantrolene", "methocarbamol", "orphenadrine",
    "carisoprodol", "metaxalone", "chlorzoxazone",
    "alprazolam", "chlordiazepoxide", "clobazam", "clonazepam", "clorazepate", "diazepam", "estazolam",
    "flurazepam", "lorazepam", "midazolam", "oxazepam", "quazepam", "temazepam", "triazolam",
    "citalopram", "escitalopram", "fluoxetine", "fluvoxamine", "paroxetine", "sertraline",
    "venlafaxine", "desvenlafaxine", "duloxetine", "levomilnacipran", "milnacipran",
    "amitriptyline", "amoxapine", "clomipramine", "desipramine", "doxepin", "imipramine", "nortriptyline",
    "protriptyline", "trimipramine",
    "phenelzine", "tranylcypromine", "isocarboxazid", "selegiline", "rasagiline", "linezolid", "methylene blue",
    "sumatriptan", "rizatriptan", "zolmitriptan", "naratriptan", "eletriptan", "almotriptan", "frovatriptan",
    "tramadol", "meperidine", "tapentadol", "methadone", "fentanyl",
    "bupropion", "lithium", "buspirone", "trazodone", "mirtazapine", "vilazodone", "vortioxetine",
    "oxycodone", "hydrocodone", "morphine", "hydromorphone", "codeine", "oxymorphone", "buprenorphine",
    "gabapentin", "pregabalin", "zolpidem", "zaleplon", "eszopiclone", "ciprofloxacin",
]  # fmt: skip

# Drugs whose brand products are not in RxNorm's prescribable solid-oral list (withdrawn or only as
# generics there); they are recognized by SCD code and by the brand names table.
NO_SBD_CODE = {"estazolam", "oxazepam", "amitriptyline", "amoxapine"}


def _products_for(ingredient: str) -> list[dict]:
    raw = json.loads(resources.files("cds_service.facts").joinpath("data", "rxnorm_products.json").read_text())
    return [
        {"rxcui": k, **v}
        for k, v in raw["products"].items()
        if [i["ingredient"] for i in v["ingredients"]] == [ingredient]
    ]


def _brand_for(ingredient: str) -> str:
    brands = sorted(b for b, ings in terminology.brand_names().items() if ings == (ingredient,))
    assert brands, f"no brand name for {ingredient}"
    return brands[0]


@pytest.mark.parametrize("ingredient", RULE_DRUGS)
def test_rule_drug_recognized_by_scd_code(ingredient: str) -> None:
    scds = [p for p in _products_for(ingredient) if not p["brand"] and p["form"] and p["components"] == 1]
    assert scds, f"no single-ingredient clinical drug for {ingredient}"
    product = scds[0]
    found = recognize([(RX, product["rxcui"])], [])
    assert found.match is MatchMethod.CODE
    assert found.ingredients == (ingredient,)


@pytest.mark.parametrize("ingredient", RULE_DRUGS)
def test_rule_drug_recognized_by_sbd_code_when_one_exists(ingredient: str) -> None:
    sbds = [p for p in _products_for(ingredient) if p["brand"] and p["form"]]
    if not sbds:
        assert ingredient in NO_SBD_CODE, f"{ingredient} lost its SBDs"
        pytest.skip(f"RxNorm prescribable list has no branded product of {ingredient}")
    found = recognize([(RX, sbds[0]["rxcui"])], [])
    assert found.match is MatchMethod.CODE
    assert found.ingredients == (ingredient,)


@pytest.mark.parametrize("ingredient", RULE_DRUGS)
def test_rule_drug_recognized_by_brand_name(ingredient: str) -> None:
    brand = _brand_for(ingredient)
    found = recognize([("https://fhir.cerner.com/x/synonym", "123")], [f"{brand} oral tablet"])
    assert found.match is MatchMethod.NAME
    assert ingredient in found.ingredients


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Flexeril 10 mg tablet", ("cyclobenzaprine",)),
        ("AMRIX 15 MG capsule", ("cyclobenzaprine",)),
        ("Fexmid", ("cyclobenzaprine",)),
        ("Lioresal Intrathecal", ("baclofen",)),
        ("Ozobax DS oral solution", ("baclofen",)),
        ("Fleqsuvy", ("baclofen",)),
        ("Lyvispah granules", ("baclofen",)),
        ("Gablofen", ("baclofen",)),
        ("Zanaflex capsule", ("tizanidine",)),
        ("Parafon Forte DSC", ("chlorzoxazone",)),
        ("Soma 350", ("carisoprodol",)),
        ("Zyvox", ("linezolid",)),
        ("Nardil", ("phenelzine",)),
        ("tiZANidine 4 mg oral tablet", ("tizanidine",)),
        ("desvenlafaxine ER", ("desvenlafaxine",)),  # not mistaken for venlafaxine
        ("escitalopram 10 mg", ("escitalopram",)),  # not citalopram
        ("hydromorphone 2 mg", ("hydromorphone",)),  # not morphine
        ("Lisinopril 10 MG Oral Tablet", ()),
        ("Somatropin", ()),  # "Soma" only as a whole word
    ],
)
def test_name_fallback_is_word_based(text: str, expected: tuple[str, ...]) -> None:
    assert terminology.ingredients_in_text(text) == expected


def test_classes_from_codes_json() -> None:
    assert terminology.classes_for(["cyclobenzaprine"]) >= {
        DrugClass.MUSCLE_RELAXANT,
        DrugClass.ANTISPASMODIC_BEERS,
        DrugClass.CNS_DEPRESSANT,
        DrugClass.SEROTONERGIC,
    }
    assert terminology.classes_for(["baclofen"]) >= {DrugClass.ANTISPASTICITY, DrugClass.MUSCLE_RELAXANT}
    assert DrugClass.SEROTONERGIC not in terminology.classes_for(["baclofen"])
    assert terminology.classes_for(["linezolid"]) >= {DrugClass.MAOI, DrugClass.SEROTONERGIC}
    assert terminology.classes_for(["selegiline"]) >= {DrugClass.MAOI}
    assert terminology.classes_for(["tramadol"]) >= {DrugClass.OPIOID, DrugClass.SEROTONERGIC}
    assert terminology.classes_for(["fluvoxamine"]) >= {DrugClass.SSRI, DrugClass.STRONG_CYP1A2_INHIBITOR}
    assert terminology.classes_for(["ciprofloxacin"]) == {DrugClass.STRONG_CYP1A2_INHIBITOR}
    assert terminology.classes_for(["pregabalin"]) == {DrugClass.GABAPENTINOID, DrugClass.CNS_DEPRESSANT}
    assert terminology.classes_for(["zolpidem"]) == {DrugClass.Z_DRUG, DrugClass.CNS_DEPRESSANT}
    assert terminology.classes_for(["sumatriptan"]) == {DrugClass.TRIPTAN, DrugClass.SEROTONERGIC}


@pytest.mark.parametrize(
    ("rxcui", "ingredient", "strength", "per_ml", "route"),
    [
        ("197391", "baclofen", 10.0, False, Route.ORAL),
        ("202109", "baclofen", 10.0, False, Route.ORAL),  # [Lioresal]
        ("1666613", "baclofen", 2.0, True, Route.INTRATHECAL),  # 20 ML baclofen 2 MG/ML Injection
        ("828353", "cyclobenzaprine", 30.0, False, Route.ORAL),  # 24 HR ER capsule
        ("197447", "carisoprodol", 200.0, False, Route.ORAL),  # aspirin 325 / carisoprodol 200
        ("1665188", "lorazepam", 2.0, True, Route.INJECTION),
    ],
)
def test_product_table_strength_and_route(
    rxcui: str, ingredient: str, strength: float, per_ml: bool, route: Route
) -> None:
    product = terminology.product(rxcui)
    assert product is not None
    first = product.ingredients[0]
    assert (first.ingredient, first.strength_mg, first.per_ml, product.route) == (ingredient, strength, per_ml, route)


def test_combination_product_keeps_each_rule_ingredient() -> None:
    # acetaminophen / tramadol: tramadol kept with its own strength; acetaminophen is not a rule drug
    product = terminology.product("836395")
    assert product is not None and product.component_count == 2
    assert [(i.ingredient, i.strength_mg) for i in product.ingredients] == [("tramadol", 37.5)]


def test_ingredient_codes_recorded_with_status() -> None:
    raw = json.loads(resources.files("cds_service.facts").joinpath("data", "rxnorm_products.json").read_text())
    assert raw["ingredient_codes"]["1292"] == {"ingredient": "baclofen", "status": "unverified"}
    assert terminology.ingredient_for_code("10689") == "tramadol"
    assert {s["file"] for s in raw["meta"]["sources"]} == {"codes.json", "rxnorm-prescribable-names.json"}
    assert raw["meta"]["generated"]


@pytest.mark.parametrize(
    ("system", "code", "category"),
    [
        ("http://hl7.org/fhir/sid/icd-10-cm", "G35", ConditionCategory.CEREBRAL_SPASTICITY),
        ("http://hl7.org/fhir/sid/icd-10-cm", "I69.351", ConditionCategory.CEREBRAL_SPASTICITY),
        ("http://hl7.org/fhir/sid/icd-10-cm", "I69351", ConditionCategory.CEREBRAL_SPASTICITY),
        ("http://hl7.org/fhir/sid/icd-10-cm", "S14.109S", ConditionCategory.SPINAL_SPASTICITY),
        ("http://hl7.org/fhir/sid/icd-10-cm", "M54.50", ConditionCategory.ACUTE_MUSCULOSKELETAL),
        ("http://hl7.org/fhir/sid/icd-10-cm", "I44.2", ConditionCategory.CARDIAC_CONDUCTION),
        ("http://hl7.org/fhir/sid/icd-10-cm", "I48.91", ConditionCategory.CARDIAC_ARRHYTHMIA),
        ("http://hl7.org/fhir/sid/icd-10-cm", "I50.9", ConditionCategory.HEART_FAILURE),
        ("http://hl7.org/fhir/sid/icd-10-cm", "I21.4", ConditionCategory.RECENT_MI),
        ("http://hl7.org/fhir/sid/icd-10-cm", "E05.90", ConditionCategory.HYPERTHYROIDISM),
        ("http://hl7.org/fhir/sid/icd-10-cm", "K74.60", ConditionCategory.LIVER_DISEASE),
        ("http://hl7.org/fhir/sid/icd-10-cm", "N18.4", ConditionCategory.RENAL_IMPAIRMENT),
        ("http://hl7.org/fhir/sid/icd-10-cm", "R25.2", ConditionCategory.MUSCLE_CRAMPS),
        ("http://snomed.info/sct", "24700007", ConditionCategory.CEREBRAL_SPASTICITY),
        ("http://snomed.info/sct", "42343007", ConditionCategory.HEART_FAILURE),
        ("http://snomed.info/sct", "57054005", ConditionCategory.RECENT_MI),
    ],
)
def test_condition_tables(system: str, code: str, category: ConditionCategory) -> None:
    assert category in terminology.condition_categories(system, code)


def test_condition_tables_do_not_overmatch() -> None:
    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    assert terminology.condition_categories(icd, "I25.2") == frozenset()  # old MI is not acute
    assert terminology.condition_categories(icd, "G81.01") == frozenset()  # flaccid hemiplegia
    assert terminology.condition_categories("http://snomed.info/sct", "G35") == frozenset()  # wrong system


def test_loinc_allowlists() -> None:
    assert terminology.lab_kind("2823-3") is LabKind.POTASSIUM
    assert terminology.lab_kind("6298-4") is LabKind.POTASSIUM
    assert terminology.lab_kind("19123-9") is LabKind.MAGNESIUM
    assert terminology.lab_kind("2601-3") is LabKind.MAGNESIUM
    assert terminology.lab_kind("2597-3") is None  # RBC magnesium is not a serum value
    assert terminology.lab_kind("2828-2") is None  # urine potassium
