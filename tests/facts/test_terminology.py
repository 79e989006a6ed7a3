"""Every drug the rules use is recognized from a clinical-drug code, a branded-drug code and a brand
name; classes come from codes.json's drug_classes; condition and LOINC tables behave."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.facts import terminology
from cds_service.facts.model import ConditionCategory, DrugClass, LabKind, MatchMethod, Route
from cds_service.facts.recognition import recognize

RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SCT = "http://snomed.info/sct"
CC = ConditionCategory

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
    assert terminology.classes_for(["pregabalin"]) == {
        DrugClass.GABAPENTINOID,
        DrugClass.CNS_DEPRESSANT,
        DrugClass.ANTIEPILEPTIC,
    }
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
        (ICD, "G35", CC.CEREBRAL_SPASTICITY),
        (ICD, "I69.351", CC.CEREBRAL_SPASTICITY),
        (ICD, "I69351", CC.CEREBRAL_SPASTICITY),
        (ICD, "S14.109S", CC.SPINAL_SPASTICITY),
        (ICD, "M54.50", CC.ACUTE_MUSCULOSKELETAL),
        (ICD, "I44.2", CC.CARDIAC_CONDUCTION),
        (ICD, "I48.91", CC.CARDIAC_ARRHYTHMIA),
        (ICD, "I50.9", CC.HEART_FAILURE),
        (ICD, "I21.4", CC.RECENT_MI),
        (ICD, "E05.90", CC.HYPERTHYROIDISM),
        (ICD, "K74.60", CC.LIVER_DISEASE),
        (ICD, "N18.4", CC.RENAL_IMPAIRMENT),
        (ICD, "R25.2", CC.MUSCLE_CRAMPS),
        (SCT, "24700007", CC.CEREBRAL_SPASTICITY),
        (SCT, "42343007", CC.HEART_FAILURE),
        (SCT, "57054005", CC.RECENT_MI),
    ],
)
def test_condition_tables(system: str, code: str, category: ConditionCategory) -> None:
    assert category in terminology.condition_categories(system, code)


def test_condition_tables_do_not_overmatch() -> None:
    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    assert terminology.condition_categories(icd, "I25.2") == frozenset()  # old MI is not acute
    assert terminology.condition_categories(icd, "G81.01") == frozenset()  # flaccid hemiplegia
    assert terminology.condition_categories(SCT, "G35") == frozenset()  # wrong system


def test_loinc_allowlists() -> None:
    assert terminology.lab_kind("2823-3") is LabKind.POTASSIUM
    assert terminology.lab_kind("6298-4") is LabKind.POTASSIUM
    assert terminology.lab_kind("19123-9") is LabKind.MAGNESIUM
    assert terminology.lab_kind("2601-3") is LabKind.MAGNESIUM
    assert terminology.lab_kind("2597-3") is None  # RBC magnesium is not a serum value
    assert terminology.lab_kind("2828-2") is None  # urine potassium


def test_verapamil_is_a_cyp1a2_inhibitor_and_not_serotonergic_in_general() -> None:
    """The cyclobenzaprine label names verapamil among drugs reported with serotonin syndrome; the rules
    count it only beside cyclobenzaprine. The tizanidine label names it among CYP1A2 inhibitors."""
    assert terminology.classes_for(["verapamil"]) == {DrugClass.CYP1A2_INHIBITOR}


@pytest.mark.parametrize(
    ("ingredient", "drug_class"),
    [
        # the tizanidine label's other CYP1A2 inhibitors
        ("levofloxacin", DrugClass.CYP1A2_INHIBITOR),
        ("amiodarone", DrugClass.CYP1A2_INHIBITOR),
        ("mexiletine", DrugClass.CYP1A2_INHIBITOR),
        ("propafenone", DrugClass.CYP1A2_INHIBITOR),
        ("cimetidine", DrugClass.CYP1A2_INHIBITOR),
        ("famotidine", DrugClass.CYP1A2_INHIBITOR),
        ("acyclovir", DrugClass.CYP1A2_INHIBITOR),
        ("ticlopidine", DrugClass.CYP1A2_INHIBITOR),
        ("zileuton", DrugClass.CYP1A2_INHIBITOR),
        ("ethinyl estradiol", DrugClass.CYP1A2_INHIBITOR),
        # Beers CNS-active count
        ("sertraline", DrugClass.ANTIDEPRESSANT),
        ("mirtazapine", DrugClass.ANTIDEPRESSANT),
        ("quetiapine", DrugClass.ANTIPSYCHOTIC),
        ("haloperidol", DrugClass.ANTIPSYCHOTIC),
        ("levetiracetam", DrugClass.ANTIEPILEPTIC),
        ("divalproex", DrugClass.ANTIEPILEPTIC),
        # electrolytes
        ("furosemide", DrugClass.LOOP_DIURETIC),
        ("hydrochlorothiazide", DrugClass.THIAZIDE_DIURETIC),
        ("omeprazole", DrugClass.PROTON_PUMP_INHIBITOR),
        ("potassium chloride", DrugClass.POTASSIUM_SUPPLEMENT),
        ("magnesium oxide", DrugClass.MAGNESIUM_SUPPLEMENT),
    ],
)
def test_new_classes(ingredient: str, drug_class: DrugClass) -> None:
    assert drug_class in terminology.classes_for([ingredient])
    assert DrugClass.STRONG_CYP1A2_INHIBITOR not in terminology.classes_for([ingredient])


@pytest.mark.parametrize(
    ("rxcui", "ingredient"),
    [
        ("310429", "furosemide"),  # Furosemide 20 MG Oral Tablet
        ("197770", "hydrochlorothiazide"),  # Hydrochlorothiazide 50 MG Oral Tablet
    ],
)
def test_new_class_drugs_recognized_by_scd(rxcui: str, ingredient: str) -> None:
    found = recognize([(RX, rxcui)], [])
    assert found.match is MatchMethod.CODE and found.ingredients == (ingredient,)


def test_class_sources_are_recorded() -> None:
    data = json.loads(resources.files("cds_service.facts").joinpath("data", "drug_classes.json").read_text())
    added = ("cyp1a2-inhibitor", "antidepressant", "antipsychotic", "antiepileptic", "loop-diuretic")
    added += ("thiazide-diuretic", "proton-pump-inhibitor", "potassium-supplement", "magnesium-supplement")
    for drug_class in added:
        entry = data["class_sources"][drug_class]
        assert entry["source"] and entry["status"]
    assert "verapamil" in data["class_sources"]["serotonergic"]["excluded"]


@pytest.mark.parametrize(
    ("rxcui", "extended_release", "route"),
    [
        ("828358", True, Route.ORAL),  # 24 HR cyclobenzaprine 15 MG ER capsule
        ("828355", True, Route.ORAL),  # 24 HR cyclobenzaprine 30 MG ER capsule [Amrix]
        ("828356", True, Route.UNKNOWN),  # cyclobenzaprine 15 MG [Amrix] (component): Amrix is ER only
        ("828348", False, Route.ORAL),  # cyclobenzaprine 10 MG tablet
        ("994521", True, Route.ORAL),  # 12 HR orphenadrine 100 MG ER tablet
        ("856652", False, Route.ORAL),  # dantrolene 100 MG oral capsule
        ("856696", False, Route.INJECTION),  # dantrolene 20 MG injection (IV)
    ],
)
def test_products_know_extended_release_and_route(rxcui: str, extended_release: bool, route: Route) -> None:
    product = terminology.product(rxcui)
    assert product is not None
    assert product.extended_release is extended_release
    assert product.route is route


@pytest.mark.parametrize(
    ("text", "extended_release", "route"),
    [
        ("Amrix 15 mg capsule", True, None),
        ("cyclobenzaprine ER 30 mg", True, None),
        ("orphenadrine citrate 100 mg 12 hr tablet", True, None),
        ("cyclobenzaprine 10 mg tablet", False, None),
        ("Ryanodex 250 mg", False, Route.INJECTION),
        ("Revonto 20 mg vial", False, Route.INJECTION),
        ("Dantrium 25 mg capsule", False, None),
    ],
)
def test_names_say_extended_release_and_brand_route(text: str, extended_release: bool, route: Route | None) -> None:
    assert terminology.is_extended_release_text(text) is extended_release
    assert terminology.route_in_text(text) is route


def test_condition_tables_record_their_sources() -> None:
    data = json.loads(resources.files("cds_service.facts").joinpath("data", "conditions.json").read_text())
    for category, entry in data["categories"].items():
        for code, snomed in entry["snomed"].items():
            assert snomed["status"] in ("verified", "unverified"), (category, code)
            assert snomed.get("source"), (category, code)
        for prefix, icd in entry.get("icd10", {}).items():
            assert icd["status"] in ("verified", "unverified") and icd["source"], (category, prefix)


@pytest.mark.parametrize(
    ("system", "code", "expected", "not_expected"),
    [
        (ICD, "K70.30", {CC.CIRRHOSIS, CC.LIVER_DISEASE}, set()),
        (ICD, "K76.0", {CC.LIVER_DISEASE}, {CC.CIRRHOSIS, CC.ACTIVE_LIVER_DISEASE}),  # fatty liver
        (ICD, "B18.2", {CC.ACTIVE_LIVER_DISEASE}, {CC.CIRRHOSIS}),  # chronic hepatitis C
        (ICD, "K75.4", {CC.ACTIVE_LIVER_DISEASE}, {CC.CIRRHOSIS}),  # autoimmune hepatitis
        (SCT, "19943007", {CC.CIRRHOSIS, CC.ACTIVE_LIVER_DISEASE}, set()),
        (ICD, "R25.2", {CC.MUSCLE_CRAMPS}, {CC.ACUTE_MUSCULOSKELETAL}),
        (SCT, "55300003", {CC.MUSCLE_CRAMPS}, {CC.ACUTE_MUSCULOSKELETAL}),
        (ICD, "M62.830", {CC.ACUTE_MUSCULOSKELETAL}, set()),
        (ICD, "N18.31", {CC.CKD_STAGE_3, CC.RENAL_IMPAIRMENT}, {CC.CKD_STAGE_4}),
        (ICD, "N18.4", {CC.CKD_STAGE_4}, {CC.CKD_STAGE_3}),
        (ICD, "N18.5", {CC.CKD_STAGE_5}, set()),
        (ICD, "N18.6", {CC.CKD_STAGE_5}, set()),
        (SCT, "46177005", {CC.CKD_STAGE_5, CC.RENAL_IMPAIRMENT}, set()),
        (ICD, "Z99.2", {CC.DIALYSIS}, set()),
        (ICD, "Z49.01", {CC.DIALYSIS}, set()),
        (ICD, "F10.20", {CC.ALCOHOL_USE_DISORDER}, set()),
        (ICD, "F10.10", {CC.ALCOHOL_USE_DISORDER}, set()),
        (ICD, "F10.90", set(), {CC.ALCOHOL_USE_DISORDER}),
    ],
)
def test_condition_categories_v2(system: str, code: str, expected: set, not_expected: set) -> None:
    found = terminology.condition_categories(system, code)
    assert expected <= found
    assert not (not_expected & found)


_NAMES = sorted(set(terminology.brand_names()) | terminology.known_ingredients())
_SEPARATORS = [" ", "  ", "-", "\t", ", ", "/", "(", ")", "'", "+", "&", ".", "_", "\n"]
_NOISE = ["mg", "10", "Tablet", "x", "somatropin", "re", "ER", "plus", "and", "cold", "é", "\u212a", "ſ", "-"]


@st.composite
def _sig_texts(draw: st.DrawFn) -> str:
    """Free text as orders carry it: names in any case, cut or glued to other words, among noise."""
    parts: list[str] = []
    for _ in range(draw(st.integers(0, 8))):
        piece = draw(st.one_of(st.sampled_from(_NAMES), st.sampled_from(_NOISE), st.text(max_size=4)))
        if draw(st.booleans()):
            piece = "".join(c.upper() if draw(st.booleans()) else c for c in piece)
        if draw(st.integers(0, 9)) == 0:
            piece = piece[: draw(st.integers(0, len(piece)))]
        parts.append(piece)
        parts.append(draw(st.sampled_from(["", *_SEPARATORS])))
    return "".join(parts)


@settings(max_examples=400, deadline=None)
@given(_sig_texts())
def test_name_scan_finds_what_the_whole_pattern_finds(text: str) -> None:
    """The scan that tries the pattern only where a name's first word begins finds the same names, at
    the same places, as the pattern run over the whole text (the reference it replaced)."""
    whole = [(m.span(), m.group(1)) for m in terminology._name_pattern().finditer(text)]
    assert [(m.span(), m.group(1)) for m in terminology._name_matches(text)] == whole
