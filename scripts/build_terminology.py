"""Generate the facts layer's terminology tables from the shared reference files.

Usage:  python scripts/build_terminology.py [--reference DIR] [--out DIR]

Reads `codes.json` (curated RxNorm/LOINC/SNOMED/ICD-10-CM codes, drug classes) and
`rxnorm-prescribable-names.json` (RxCUI -> RxNorm name of the 23k prescribable drugs the CDS Hooks
sandbox picker uses) and writes, into `cds_service/facts/data/`:

- `rxnorm_products.json`: RxCUI -> ingredient(s) the rules know, strength per unit (per
  tablet/capsule, or per mL for MG/ML liquids), dose form, route, brand; plus ingredient RxCUIs
  (with their verified/unverified status) and brand names -> ingredients.
- `drug_classes.json`: ingredient -> drug classes (the `DrugClass` values of `facts.model`).
- `conditions.json`: condition category -> ICD-10-CM prefixes and SNOMED CT codes.
- `labs.json`: LOINC allowlists for serum/plasma/blood potassium and magnesium, eGFR (race-free codes)
  and serum creatinine, with the codes considered and dropped.

Each file records its sources and the generation date. The service never reads the reference
directory at run time: only these generated files ship with the package.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REFERENCE = ROOT.parent / "shared" / "reference"
DEFAULT_OUT = ROOT / "cds_service" / "facts" / "data"

# --- ingredients and classes -------------------------------------------------------------------

GABAPENTINOIDS = ["gabapentin", "gabapentin enacarbil", "pregabalin"]
Z_DRUGS = ["zolpidem", "zaleplon", "eszopiclone"]
# Opioids beyond codes.json's boxed-warning list that RxNorm lists as prescribable opioid agonists.
EXTRA_OPIOIDS = ["opium", "benzhydrocodone", "alfentanil", "sufentanil", "remifentanil"]

# Classes beyond codes.json's drug_classes. Each list names its source; `status` says whether the
# list was seen in that source during this work (verified) or is recalled (unverified, check it).
EXTRA_CLASSES: dict[str, dict[str, Any]] = {
    "cyp1a2-inhibitor": {
        "ingredients": [
            # "other fluoroquinolones" (ciprofloxacin is contraindicated: strong-cyp1a2-inhibitor)
            "levofloxacin",
            "moxifloxacin",
            "ofloxacin",
            "norfloxacin",
            "gemifloxacin",
            "delafloxacin",
            "enoxacin",
            "lomefloxacin",
            # antiarrhythmics named by the label
            "amiodarone",
            "mexiletine",
            "propafenone",
            "verapamil",
            "cimetidine",
            "famotidine",
            "acyclovir",
            "ticlopidine",
            "zileuton",
            # oral contraceptives: the ethinyl estradiol/progestin combinations (route decided per order)
            "ethinyl estradiol",
        ],
        "source": "Tizanidine label (Zanaflex) section 7 / W&P 5.5: 'other CYP1A2 inhibitors, such as zileuton, "
        "fluoroquinolones other than strong CYP1A2 inhibitors, antiarrhythmics (amiodarone, mexiletine, "
        "propafenone, and verapamil), cimetidine, famotidine, oral contraceptives, acyclovir, and ticlopidine' "
        "(label text seen via healthgrades.com Zanaflex interactions page and the 2006 Dear-HCP letter); the "
        "individual fluoroquinolone names are recalled",
        "status": "verified (label list); fluoroquinolone members recalled",
    },
    "antidepressant": {
        "ingredients": [
            "citalopram",
            "escitalopram",
            "fluoxetine",
            "fluvoxamine",
            "paroxetine",
            "sertraline",
            "venlafaxine",
            "desvenlafaxine",
            "duloxetine",
            "levomilnacipran",
            "milnacipran",
            "amitriptyline",
            "amoxapine",
            "clomipramine",
            "desipramine",
            "doxepin",
            "imipramine",
            "nortriptyline",
            "protriptyline",
            "trimipramine",
            "maprotiline",
            "isocarboxazid",
            "phenelzine",
            "tranylcypromine",
            "vilazodone",
            "vortioxetine",
            "trazodone",
            "nefazodone",
            "mirtazapine",
            "bupropion",
        ],
        "source": "codes.json drug_classes ssri/snri/tca/maoi_nonselective/other_serotonergic_antidepressants "
        "(ATC N06A) plus bupropion (ATC N06AX12, recalled). Beers 2023's CNS-active count names TCAs, SSRIs and "
        "SNRIs, which keep their own classes",
        "status": "codes.json lists; bupropion recalled",
    },
    "antipsychotic": {
        "ingredients": [
            "haloperidol",
            "chlorpromazine",
            "fluphenazine",
            "perphenazine",
            "thioridazine",
            "thiothixene",
            "trifluoperazine",
            "loxapine",
            "molindone",
            "pimozide",
            "prochlorperazine",
            "clozapine",
            "olanzapine",
            "quetiapine",
            "risperidone",
            "paliperidone",
            "ziprasidone",
            "aripiprazole",
            "brexpiprazole",
            "cariprazine",
            "lurasidone",
            "asenapine",
            "iloperidone",
            "lumateperone",
            "pimavanserin",
        ],
        "source": "ATC N05A antipsychotics (first and second generation; lithium excluded), for the Beers 2023 "
        "'three or more CNS-active drugs' count",
        "status": "unverified (recalled list)",
    },
    "antiepileptic": {
        "ingredients": [
            "phenytoin",
            "fosphenytoin",
            "carbamazepine",
            "oxcarbazepine",
            "eslicarbazepine",
            "valproic acid",
            "divalproex",
            "lamotrigine",
            "levetiracetam",
            "brivaracetam",
            "topiramate",
            "zonisamide",
            "lacosamide",
            "phenobarbital",
            "primidone",
            "ethosuximide",
            "felbamate",
            "tiagabine",
            "vigabatrin",
            "perampanel",
            "rufinamide",
            "cenobamate",
            "gabapentin",
            "pregabalin",
        ],
        "source": "ATC N03A antiepileptics (gabapentin and pregabalin are N03AX) for the Beers 2023 CNS-active count",
        "status": "unverified (recalled list)",
    },
    "loop-diuretic": {
        "ingredients": ["furosemide", "bumetanide", "torsemide", "ethacrynic acid"],
        "source": "ATC C03C high-ceiling diuretics (a reason to expect low potassium and magnesium)",
        "status": "unverified (recalled list)",
    },
    "thiazide-diuretic": {
        "ingredients": [
            "hydrochlorothiazide",
            "chlorthalidone",
            "chlorothiazide",
            "indapamide",
            "metolazone",
            "methyclothiazide",
        ],
        "source": "ATC C03A/C03B thiazides and thiazide-like diuretics (a reason to expect low potassium)",
        "status": "unverified (recalled list)",
    },
    "proton-pump-inhibitor": {
        "ingredients": ["omeprazole", "esomeprazole", "lansoprazole", "dexlansoprazole", "pantoprazole", "rabeprazole"],
        "source": "ATC A02BC; FDA 2011 safety communication: long-term PPI use can cause low magnesium",
        "status": "unverified (recalled list)",
    },
    "potassium-supplement": {
        "ingredients": ["potassium chloride", "potassium citrate", "potassium bicarbonate", "potassium gluconate"],
        "source": "ATC A12BA potassium supplements (treatment of low potassium)",
        "status": "unverified (recalled list)",
    },
    "magnesium-supplement": {
        "ingredients": [
            "magnesium oxide",
            "magnesium chloride",
            "magnesium sulfate",
            "magnesium gluconate",
            "magnesium lactate",
        ],
        "source": "ATC A12CC magnesium supplements (treatment of low magnesium)",
        "status": "unverified (recalled list)",
    },
}
# Serotonergic only beside cyclobenzaprine: the cyclobenzaprine label names verapamil among drugs
# reported with serotonin syndrome; it is not serotonergic in general (codes.json drug_classes_meta).
NOT_SEROTONERGIC_IN_GENERAL = {"verapamil"}

# Brand names not visible in the prescribable list (withdrawn or non-solid forms) but still typed
# into free text and coding displays. Each maps to the ingredient(s) it contains.
EXTRA_BRANDS: dict[str, list[str]] = {
    "Flexeril": ["cyclobenzaprine"],
    "Amrix": ["cyclobenzaprine"],
    "Fexmid": ["cyclobenzaprine"],
    "Lioresal": ["baclofen"],
    "Ozobax": ["baclofen"],
    "Ozobax DS": ["baclofen"],
    "Fleqsuvy": ["baclofen"],
    "Lyvispah": ["baclofen"],
    "Gablofen": ["baclofen"],
    "Kemstro": ["baclofen"],
    "Zanaflex": ["tizanidine"],
    "Dantrium": ["dantrolene"],
    "Dantrium Intravenous": ["dantrolene"],
    "Ryanodex": ["dantrolene"],
    "Revonto": ["dantrolene"],
    "Robaxin": ["methocarbamol"],
    "Soma": ["carisoprodol"],
    "Skelaxin": ["metaxalone"],
    "Norflex": ["orphenadrine"],
    "Lasix": ["furosemide"],
    "Bumex": ["bumetanide"],
    "Demadex": ["torsemide"],
    "Soaanz": ["torsemide"],
    "Prilosec": ["omeprazole"],
    "Nexium": ["esomeprazole"],
    "Protonix": ["pantoprazole"],
    "Prevacid": ["lansoprazole"],
    "Aciphex": ["rabeprazole"],
    "Dexilant": ["dexlansoprazole"],
    "Klor-Con": ["potassium chloride"],
    "K-Dur": ["potassium chloride"],
    "Urocit-K": ["potassium citrate"],
    "Mag-Ox": ["magnesium oxide"],
    "Slow-Mag": ["magnesium chloride"],
    "Pepcid": ["famotidine"],
    "Tagamet": ["cimetidine"],
    "Cordarone": ["amiodarone"],
    "Pacerone": ["amiodarone"],
    "Rythmol": ["propafenone"],
    "Calan": ["verapamil"],
    "Isoptin": ["verapamil"],
    "Zovirax": ["acyclovir"],
    "Zyflo": ["zileuton"],
    "Levaquin": ["levofloxacin"],
    "Avelox": ["moxifloxacin"],
    "Parafon Forte": ["chlorzoxazone"],
    "Parafon Forte DSC": ["chlorzoxazone"],
    "Lorzone": ["chlorzoxazone"],
    "Xanax": ["alprazolam"],
    "Valium": ["diazepam"],
    "Ativan": ["lorazepam"],
    "Klonopin": ["clonazepam"],
    "Restoril": ["temazepam"],
    "Halcion": ["triazolam"],
    "Librium": ["chlordiazepoxide"],
    "Tranxene": ["clorazepate"],
    "Onfi": ["clobazam"],
    "ProSom": ["estazolam"],
    "Serax": ["oxazepam"],
    "Asendin": ["amoxapine"],
    "Zoloft": ["sertraline"],
    "Prozac": ["fluoxetine"],
    "Sarafem": ["fluoxetine"],
    "Paxil": ["paroxetine"],
    "Pexeva": ["paroxetine"],
    "Celexa": ["citalopram"],
    "Lexapro": ["escitalopram"],
    "Luvox": ["fluvoxamine"],
    "Viibryd": ["vilazodone"],
    "Trintellix": ["vortioxetine"],
    "Cymbalta": ["duloxetine"],
    "Effexor": ["venlafaxine"],
    "Effexor XR": ["venlafaxine"],
    "Pristiq": ["desvenlafaxine"],
    "Savella": ["milnacipran"],
    "Fetzima": ["levomilnacipran"],
    "Elavil": ["amitriptyline"],
    "Pamelor": ["nortriptyline"],
    "Tofranil": ["imipramine"],
    "Anafranil": ["clomipramine"],
    "Norpramin": ["desipramine"],
    "Sinequan": ["doxepin"],
    "Silenor": ["doxepin"],
    "Nardil": ["phenelzine"],
    "Parnate": ["tranylcypromine"],
    "Marplan": ["isocarboxazid"],
    "Emsam": ["selegiline"],
    "Eldepryl": ["selegiline"],
    "Zelapar": ["selegiline"],
    "Azilect": ["rasagiline"],
    "Xadago": ["safinamide"],
    "Zyvox": ["linezolid"],
    "Sivextro": ["tedizolid"],
    "ProvayBlue": ["methylene blue"],
    "Matulane": ["procarbazine"],
    "Ultram": ["tramadol"],
    "Ultracet": ["tramadol"],
    "ConZip": ["tramadol"],
    "Nucynta": ["tapentadol"],
    "Demerol": ["meperidine"],
    "Dolophine": ["methadone"],
    "Methadose": ["methadone"],
    "Duragesic": ["fentanyl"],
    "Actiq": ["fentanyl"],
    "Fentora": ["fentanyl"],
    "Imitrex": ["sumatriptan"],
    "Maxalt": ["rizatriptan"],
    "Zomig": ["zolmitriptan"],
    "Amerge": ["naratriptan"],
    "Relpax": ["eletriptan"],
    "Axert": ["almotriptan"],
    "Frova": ["frovatriptan"],
    "Desyrel": ["trazodone"],
    "Oleptro": ["trazodone"],
    "Remeron": ["mirtazapine"],
    "Buspar": ["buspirone"],
    "Lithobid": ["lithium"],
    "Wellbutrin": ["bupropion"],
    "Zyban": ["bupropion"],
    "Aplenzin": ["bupropion"],
    "Zofran": ["ondansetron"],
    "Neurontin": ["gabapentin"],
    "Gralise": ["gabapentin"],
    "Horizant": ["gabapentin enacarbil"],
    "Lyrica": ["pregabalin"],
    "Ambien": ["zolpidem"],
    "Sonata": ["zaleplon"],
    "Lunesta": ["eszopiclone"],
    "Cipro": ["ciprofloxacin"],
    "OxyContin": ["oxycodone"],
    "Percocet": ["oxycodone"],
    "Norco": ["hydrocodone"],
    "Vicodin": ["hydrocodone"],
    "Dilaudid": ["hydromorphone"],
    "MS Contin": ["morphine"],
    "Suboxone": ["buprenorphine"],
    "Subutex": ["buprenorphine"],
    "Butrans": ["buprenorphine"],
}

# Brands that name one route whatever the text says: Ryanodex and Revonto are dantrolene for IV
# injection (malignant hyperthermia), not the oral capsules (Dantrium is both: its IV product is
# named "Dantrium Intravenous"). Gablofen and Lioresal Intrathecal are intrathecal baclofen.
BRAND_ROUTES: dict[str, str] = {
    "Ryanodex": "injection",
    "Revonto": "injection",
    "Dantrium Intravenous": "injection",
    "Gablofen": "intrathecal",
}
# Brands that exist only as extended-release products (their own maximum and cautions).
EXTENDED_RELEASE_BRANDS = {"Amrix"}
_EXTENDED_RELEASE = re.compile(r"(?i:extended[- ]release|\b\d+\s*HR\b)|\b(?:ER|XR|XL|SR|CR)\b")


def is_extended_release_name(name: str) -> bool:
    """RxNorm names ER products "24 HR ... Extended Release Oral Capsule"; EHR text says ER/XR/SR."""
    return bool(_EXTENDED_RELEASE.search(name))


# Brand tokens seen in RxNorm names that are ordinary words or too generic to match free text.
UNSAFE_BRANDS = {"pill", "tablet", "capsule", "relief", "sleep", "pm", "cold", "day", "night"}

# --- dose forms and routes ---------------------------------------------------------------------

_ROUTE_BY_FORM = [
    (re.compile(r"intrathecal", re.I), "intrathecal"),
    (re.compile(r"injection|injectable|prefilled syringe|cartridge|auto-injector|intravenous", re.I), "injection"),
    (re.compile(r"transdermal|topical|cream|ointment|gel|lotion|patch|medicated pad", re.I), "topical"),
    (re.compile(r"\boral\b|chewable|sublingual tablet|disintegrating|\bpill\b|\btablet\b|\bcapsule\b", re.I), "oral"),
    (re.compile(r"buccal|nasal|rectal|suppository|inhal|ophthalmic|otic|vaginal|film", re.I), "other"),
]

_STRENGTH_UNIT_TO_MG = {"MG": 1.0, "MCG": 0.001, "G": 1000.0}

_COMPONENT = re.compile(
    r"^(?P<name>.+?)\s+(?P<value>\d+(?:\.\d+)?)\s+(?P<unit>MG|MCG|G|MEQ|UNT|MMOL|ML|%)"
    r"(?:/(?P<per>ML|HR|ACTUAT|MG|G|SQCM|24HR))?(?P<rest>(?:\s.*)?)$",
    re.I,
)
_LEADING_QTY = re.compile(r"^(?P<qty>\d+(?:\.\d+)?)\s+(?P<unit>ML|MG|G|ACTUAT|HR)\s+(?P<rest>.+)$", re.I)
_BRAND = re.compile(r"\s*\[(?P<brand>[^\]]+)\]\s*$")
_ANNOTATION = re.compile(r"\s*\((?:[^()]*)\)\s*$")
_RELEASE_PREFIX = re.compile(r"^(?:Matrix Delivery\s+)?\d+\s+HR\s+", re.I)


def parse_rxnorm_name(name: str) -> dict[str, Any]:
    """Split an RxNorm SCD/SBD/SCDC/SBDC/pack name into components, dose form and brand.

    Grammar (RxNorm naming conventions): `[<qty> <unit> ][<n> HR ]<ingredient> <strength> <unit>
    [/ <ingredient> <strength> <unit>]... [<dose form>] [[<Brand>]]`.
    """
    text = _ANNOTATION.sub("", name.strip())
    brand = None
    match = _BRAND.search(text)
    if match:
        brand = match.group("brand").strip()
        text = text[: match.start()].strip()
    package_qty = None
    lead = _LEADING_QTY.match(text)
    if lead and lead.group("unit").upper() in {"ML", "ACTUAT"}:
        package_qty = f"{lead.group('qty')} {lead.group('unit').upper()}"
        text = lead.group("rest")
    text = _RELEASE_PREFIX.sub("", text)
    components: list[dict[str, Any]] = []
    form = ""
    parts = [p.strip() for p in text.split(" / ")]
    for index, part in enumerate(parts):
        m = _COMPONENT.match(part)
        if not m:
            if index == len(parts) - 1 and not components:
                form = ""  # e.g. "Baclofen Pill": a dose form group without strength
            components.append({"name": part, "strength": None, "unit": None, "per": None})
            continue
        components.append(
            {
                "name": m.group("name").strip(),
                "strength": float(m.group("value")),
                "unit": m.group("unit").upper(),
                "per": (m.group("per") or "").upper() or None,
            }
        )
        if index == len(parts) - 1:
            form = m.group("rest").strip()
    if not components:
        components.append({"name": text, "strength": None, "unit": None, "per": None})
    if not form and text.lower().endswith(" pill"):
        form = "Pill"
    return {"components": components, "form": form, "brand": brand, "package": package_qty}


def route_for(form: str, name: str) -> str:
    for pattern, route in _ROUTE_BY_FORM:
        if pattern.search(form) or (not form and pattern.search(name)):
            return route
    return "unknown"


# --- assembling the tables ---------------------------------------------------------------------


def ingredient_classes(codes: dict[str, Any]) -> dict[str, set[str]]:
    classes: dict[str, set[str]] = {}
    dc = codes["drug_classes"]

    def add(names: list[str], *labels: str) -> None:
        for name in names:
            classes.setdefault(name.lower(), set()).update(labels)

    relaxants = dc["antispasticity_agents"] + dc["antispasmodic_smr_beers"]
    add(dc["antispasticity_agents"], "antispasticity", "muscle-relaxant", "cns-depressant")
    add(dc["antispasmodic_smr_beers"], "antispasmodic-beers", "muscle-relaxant", "cns-depressant")
    add(dc["benzodiazepines"], "benzodiazepine", "cns-depressant")
    opioids = dc["opioids_for_benzo_boxed_warning"] + EXTRA_OPIOIDS
    add(opioids, "opioid", "cns-depressant")
    add(GABAPENTINOIDS, "gabapentinoid", "cns-depressant")
    add(Z_DRUGS, "z-drug", "cns-depressant")
    add(dc["ssri"], "ssri", "serotonergic")
    add(dc["snri"], "snri", "serotonergic")
    add(dc["tca"], "tca", "serotonergic")
    add(dc["maoi_nonselective"] + dc["maoi_b"] + dc["maoi_other_agents"], "maoi", "serotonergic")
    add(dc["triptans"], "triptan", "serotonergic")
    add(dc["serotonergic_opioids"], "serotonergic")
    add(dc["other_serotonergic_antidepressants"], "serotonergic")
    add([n for n in dc["other_serotonergic"] if n not in NOT_SEROTONERGIC_IN_GENERAL], "serotonergic")
    add(dc["strong_cyp1a2_inhibitors_tizanidine_contraindicated"], "strong-cyp1a2-inhibitor")
    # Cyclobenzaprine is structurally a TCA and its label warns of serotonin syndrome.
    add(["cyclobenzaprine"], "serotonergic")
    for label, entry in EXTRA_CLASSES.items():
        add(entry["ingredients"], label)
    assert not any("serotonergic" in classes.get(n, set()) for n in NOT_SEROTONERGIC_IN_GENERAL)
    assert set(relaxants) <= set(classes)
    # codes.json keys ingredients not in any class list (e.g. moclobemide) are MAOIs per its section.
    for name in codes["rxnorm"]:
        classes.setdefault(name.lower(), set())
    if not classes["moclobemide"]:
        classes["moclobemide"].update({"maoi", "serotonergic"})
    return classes


def _ingredient_pattern(ingredients: list[str]) -> re.Pattern[str]:
    names = sorted(ingredients, key=len, reverse=True)
    return re.compile(r"(?<![\w-])(" + "|".join(re.escape(n) for n in names) + r")(?![\w-])", re.I)


def build_products(
    codes: dict[str, Any], prescribable: dict[str, str], ingredients: list[str]
) -> tuple[dict[str, Any], dict[str, str]]:
    pattern = _ingredient_pattern(ingredients)
    names: dict[str, tuple[str, str]] = {}  # rxcui -> (name, source)
    for rxcui, name in prescribable.items():
        names[rxcui] = (name, "prescribable")
    hinted: dict[str, str] = {}  # rxcui -> ingredient key of codes.json (for annotated names)
    for key, entry in codes["rxnorm"].items():
        for section in ("scd", "sbd", "packs", "components_scdc_sbdc"):
            for rxcui, name in (entry.get(section) or {}).items():
                hinted[rxcui] = key
                names.setdefault(rxcui, (name, f"codes.json rxnorm.{key}.{section}"))
    for vs_key, vs in codes["value_sets"].items():
        for rxcui, name in (vs.get("rxnorm") or {}).items():
            names.setdefault(rxcui, (name, f"codes.json value_sets.{vs_key}"))

    products: dict[str, Any] = {}
    for rxcui, (name, source) in sorted(names.items(), key=lambda kv: int(kv[0])):
        parsed = parse_rxnorm_name(name)
        ours: list[dict[str, Any]] = []
        for component in parsed["components"]:
            found = pattern.search(component["name"])
            if not found:
                continue
            ingredient = found.group(1).lower()
            strength_mg = None
            per_ml = component["per"] == "ML"
            if (
                component["strength"] is not None
                and component["unit"] in _STRENGTH_UNIT_TO_MG
                and component["per"] in (None, "ML")
            ):
                strength_mg = round(component["strength"] * _STRENGTH_UNIT_TO_MG[component["unit"]], 6)
            ours.append({"ingredient": ingredient, "strength_mg": strength_mg, "per_ml": per_ml})
        if not ours and rxcui in hinted:
            ours.append({"ingredient": hinted[rxcui], "strength_mg": None, "per_ml": False})
        if not ours:
            continue
        route = route_for(parsed["form"], name)
        if route == "injection" and any(o["ingredient"] == "baclofen" for o in ours):
            route = "intrathecal"  # US baclofen injections are all intrathecal products
        brand = parsed["brand"]
        if brand in BRAND_ROUTES and route in ("unknown", "injection"):
            route = BRAND_ROUTES[brand]
        products[rxcui] = {
            "name": name,
            "ingredients": ours,
            "components": len(parsed["components"]),
            "form": parsed["form"] or None,
            "route": route,
            "brand": brand,
            "extended_release": is_extended_release_name(name) or brand in EXTENDED_RELEASE_BRANDS,
            "source": source,
        }
    return products, {rxcui: src for rxcui, (_, src) in names.items()}


def build_brands(products: dict[str, Any]) -> dict[str, list[str]]:
    brands: dict[str, set[str]] = {}
    for product in products.values():
        brand = product["brand"]
        if not brand or brand.lower() in UNSAFE_BRANDS or len(brand) < 4:
            continue
        brands.setdefault(brand, set()).update(i["ingredient"] for i in product["ingredients"])
    for brand, ingredients in EXTRA_BRANDS.items():
        brands.setdefault(brand, set()).update(ingredients)
    return {b: sorted(v) for b, v in sorted(brands.items(), key=lambda kv: kv[0].lower())}


# Condition codes beyond codes.json. ICD-10-CM prefixes follow the code set's structure (chapter
# and category titles recalled, not re-read in the CMS tables: "unverified"); SNOMED CT codes
# without a source seen here are "unverified" too. codes.json's codes come first and keep their status.
RECALL = "recall of the ICD-10-CM / SNOMED CT code set; check against the CMS tables or a SNOMED release"
EXTRA_CONDITION_CODES: dict[str, dict[str, Any]] = {
    "cerebral-spasticity": {
        "icd10": {
            "G04.1": "Tropical spastic paraplegia",
            "G11.4": "Hereditary spastic paraplegia",
        },
        "snomed": {},
    },
    "spinal-spasticity": {"icd10": {}, "snomed": {}},
    "acute-musculoskeletal": {
        "icd10": {
            "M54.6": "Pain in thoracic spine",
            "M54.9": "Dorsalgia, unspecified",
            "S13.4": "Sprain of ligaments of cervical spine",
            "S33.5": "Sprain of ligaments of lumbar spine",
            "S29.01": "Strain of muscle and tendon of back wall of thorax",
        },
        "snomed": {},
    },
    "muscle-cramps": {"icd10": {}, "snomed": {}},
    "liver-disease": {
        "icd10": {
            "B15": "Acute hepatitis A",
            "B16": "Acute hepatitis B",
            "B17": "Other acute viral hepatitis",
            "B19": "Unspecified viral hepatitis",
        },
        "snomed": {},
    },
    "renal-impairment": {
        "icd10": {"Z49": "Encounter for care involving renal dialysis"},
        "snomed": {},
    },
}
# Cirrhosis: codes.json liver_disease.cirrhosis_icd10_prefixes and SNOMED 19943007 (verified).
# Fatty liver (K76.0) or hepatitis alone is not cirrhosis.
CIRRHOSIS_SNOMED_EXTRA = {
    "420054005": "Alcoholic cirrhosis (disorder)",
}
# Active liver disease (dantrolene label: "active hepatic disease, such as hepatitis and cirrhosis"):
# cirrhosis, acute and chronic hepatitis, hepatic failure, toxic liver disease with hepatitis.
ACTIVE_LIVER_ICD10 = {
    "B15": "Acute hepatitis A",
    "B16": "Acute hepatitis B",
    "B17": "Other acute viral hepatitis",
    "B18": "Chronic viral hepatitis",
    "B19": "Unspecified viral hepatitis",
    "K70.1": "Alcoholic hepatitis",
    "K70.4": "Alcoholic hepatic failure",
    "K71.1": "Toxic liver disease with hepatic necrosis",
    "K71.2": "Toxic liver disease with acute hepatitis",
    "K71.3": "Toxic liver disease with chronic persistent hepatitis",
    "K71.4": "Toxic liver disease with chronic lobular hepatitis",
    "K71.5": "Toxic liver disease with chronic active hepatitis",
    "K71.6": "Toxic liver disease with hepatitis, not elsewhere classified",
    "K72": "Hepatic failure, not elsewhere classified",
    "K73": "Chronic hepatitis, not elsewhere classified",
    "K75.2": "Nonspecific reactive hepatitis",
    "K75.3": "Granulomatous hepatitis, not elsewhere classified",
    "K75.4": "Autoimmune hepatitis",
    "K75.81": "Nonalcoholic steatohepatitis (NASH)",
    "K75.9": "Inflammatory liver disease, unspecified",
}
ACTIVE_LIVER_SNOMED = {
    "128302006": "Chronic hepatitis C (disorder)",
    "61977001": "Chronic type B viral hepatitis (disorder)",
    "408335007": "Autoimmune hepatitis (disorder)",
    "235875008": "Alcoholic hepatitis (disorder)",
}
CKD_STAGES = {
    "ckd-stage-3": (
        {"N18.3": "Chronic kidney disease, stage 3 (N18.30, N18.31 3a, N18.32 3b)"},
        {"433144002": "Chronic kidney disease stage 3 (disorder)"},
    ),
    "ckd-stage-4": (
        {"N18.4": "Chronic kidney disease, stage 4 (severe)"},
        {"431857002": "Chronic kidney disease stage 4 (disorder)"},
    ),
    "ckd-stage-5": (
        {"N18.5": "Chronic kidney disease, stage 5", "N18.6": "End stage renal disease"},
        {"433146000": "Chronic kidney disease stage 5 (disorder)", "46177005": "End-stage renal disease (disorder)"},
    ),
}
DIALYSIS_ICD10 = {
    "Z99.2": "Dependence on renal dialysis",
    "Z49": "Encounter for care involving renal dialysis (Z49.01, Z49.02, Z49.31, Z49.32)",
}
DIALYSIS_SNOMED = {"105502003": "Dependence on renal dialysis (finding)"}
ALCOHOL_USE_DISORDER_ICD10 = {
    "F10.1": "Alcohol abuse (F10.10-F10.19)",
    "F10.2": "Alcohol dependence (F10.20-F10.29)",
}
# Issue 19: a kidney whose function is falling (an eGFR is not at steady state), and what a stop for
# toxicity records: an adverse effect or poisoning by a central muscle relaxant, an encephalopathy.
ACUTE_KIDNEY_INJURY_ICD10 = {"N17": "Acute kidney failure (N17.0-N17.9)"}
ACUTE_KIDNEY_INJURY_SNOMED = {"14669001": "Acute renal failure syndrome (disorder)"}
RELAXANT_ADVERSE_EFFECT_ICD10 = {
    "T42.8X1": "Poisoning by antiparkinsonism drugs and other central muscle-tone depressants, accidental",
    "T42.8X2": "Poisoning by antiparkinsonism drugs and other central muscle-tone depressants, intentional",
    "T42.8X3": "Poisoning by antiparkinsonism drugs and other central muscle-tone depressants, assault",
    "T42.8X4": "Poisoning by antiparkinsonism drugs and other central muscle-tone depressants, undetermined",
    "T42.8X5": "Adverse effect of antiparkinsonism drugs and other central muscle-tone depressants",
}
ENCEPHALOPATHY_ICD10 = {
    "G92": "Toxic encephalopathy (G92.8, G92.9; immune effector cell-associated G92.0x)",
    "G93.4": "Other and unspecified encephalopathy (G93.40, G93.41 metabolic, G93.49)",
}
ENCEPHALOPATHY_SNOMED = {"81308009": "Disorder of brain (encephalopathy)"}
ALCOHOL_USE_DISORDER_SNOMED = {
    "7200002": "Alcoholism (disorder)",
    "15167005": "Alcohol abuse (disorder)",
}


# Hepatic impairment severity (issue 19, item 7: the cyclobenzaprine label's "mild" versus "moderate
# to severe"). Signs of decompensated liver disease that are liver-specific by their code: each makes
# the impairment at least moderate (see facts/hepatic.py). Ascites alone (R18) counts only beside a
# liver condition: it also comes from heart failure and cancer.
HEPATIC_DECOMPENSATION_ICD10 = {
    "K70.11": "Alcoholic hepatitis with ascites",
    "K70.31": "Alcoholic cirrhosis of liver with ascites",
    "K70.4": "Alcoholic hepatic failure (K70.40 without coma, K70.41 with coma)",
    "K71.11": "Toxic liver disease with hepatic necrosis, with coma",
    "K72": "Hepatic failure, not elsewhere classified (acute, chronic, unspecified; with or without coma)",
    "K76.7": "Hepatorenal syndrome",
    "K76.82": "Hepatic encephalopathy",
    "K65.2": "Spontaneous bacterial peritonitis",
    "I85.01": "Esophageal varices with bleeding",
    "I85.11": "Secondary esophageal varices with bleeding",
}
HEPATIC_DECOMPENSATION_SNOMED = {
    "13920009": "Hepatic encephalopathy (disorder)",
    "59927004": "Hepatic failure (disorder)",
    "51292008": "Hepatorenal syndrome (disorder)",
}
ASCITES_ICD10 = {"R18": "Ascites (R18.0 malignant, R18.8 other)", "K70.31": "Alcoholic cirrhosis of liver with ascites"}
ASCITES_SNOMED = {"389026000": "Ascites (disorder)"}
# Muscle spasm itself (issue 19, item 10: "cramps or spasm on the problem list" scope the chart's
# electrolyte card); also acute-musculoskeletal, which holds back pain and strains as well.
MUSCLE_SPASM_ICD10 = {"M62.83": "Muscle spasm (M62.830 back, M62.831 calf, M62.838 other)"}
MUSCLE_SPASM_SNOMED = {"45352006": "Spasm (finding)"}


def _icd_entries(codes_json_entry: dict[str, Any] | None, extra: dict[str, str]) -> dict[str, Any]:
    """Undotted prefix -> display, status and source: codes.json first, then the recalled extras."""
    out: dict[str, Any] = {}
    if codes_json_entry is not None:
        shown = {c["code"].replace(".", "").upper(): c for c in codes_json_entry.get("icd10", [])}
        for prefix in codes_json_entry["icd10_prefixes"]:
            key = prefix.replace(".", "").upper()
            example = next((c for k, c in shown.items() if k.startswith(key)), None)
            out[key] = {
                "display": example["display"] if example else "",
                "status": example["status"] if example else "unverified",
                "source": f"codes.json ({example['source']})" if example else "codes.json (prefix, no example code)",
            }
    for code, display in extra.items():
        out.setdefault(code.replace(".", "").upper(), {"display": display, "status": "unverified", "source": RECALL})
    return out


def _snomed_entries(codes_json_entry: dict[str, Any] | None, extra: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s_ in (codes_json_entry or {}).get("snomed", []):
        out[s_["code"]] = {"display": s_["display"], "status": s_["status"], "source": f"codes.json ({s_['source']})"}
    for code, display in extra.items():
        out.setdefault(code, {"display": display, "status": "unverified", "source": RECALL})
    return out


def _category(description: str, icd10: dict[str, Any], snomed: dict[str, Any]) -> dict[str, Any]:
    return {
        "description": description,
        "icd10_prefixes": sorted(icd10),
        "icd10": dict(sorted(icd10.items())),
        "snomed": snomed,
    }


def build_conditions(codes: dict[str, Any]) -> dict[str, Any]:
    conditions = codes["conditions"]
    simple = {
        "cerebral-spasticity": "cerebral_spasticity",
        "spinal-spasticity": "spinal_spasticity",
        "acute-musculoskeletal": "acute_musculoskeletal",
        "muscle-cramps": "muscle_cramps",
        "hyperthyroidism": "hyperthyroidism",
        "liver-disease": "liver_disease",
        "renal-impairment": "renal_impairment",
    }
    out: dict[str, Any] = {}
    for category, key in simple.items():
        entry = dict(conditions[key])
        extra = EXTRA_CONDITION_CODES.get(category, {"icd10": {}, "snomed": {}})
        icd10 = _icd_entries(entry, extra["icd10"])
        snomed = _snomed_entries(entry, extra["snomed"])
        description = entry["description"]
        if category == "acute-musculoskeletal":
            # Cramps are their own category (R25.2 "Cramp and spasm", SNOMED 55300003 Cramp): a cramp is
            # not an acute musculoskeletal condition, and the cramp plans differ from the MSK ones.
            icd10.pop("R252", None)
            snomed.pop("55300003", None)
            description += " (cramps excluded: see muscle-cramps)"
        out[category] = _category(description, icd10, snomed)
    liver = conditions["liver_disease"]
    cirrhosis_icd = {p: "" for p in liver["cirrhosis_icd10_prefixes"]}
    cirrhosis = _icd_entries({"icd10_prefixes": list(cirrhosis_icd), "icd10": liver["icd10"]}, {})
    out["cirrhosis"] = _category(
        "Cirrhosis of the liver (codes.json liver_disease.cirrhosis_icd10_prefixes): the evidence base of the "
        "cramp plan and of albumin. Fatty liver (K76.0) or hepatitis alone is not cirrhosis.",
        cirrhosis,
        _snomed_entries({"snomed": [s_ for s_ in liver["snomed"] if s_["code"] == "19943007"]}, CIRRHOSIS_SNOMED_EXTRA),
    )
    active_icd = dict(cirrhosis)
    active_icd.update(_icd_entries(None, ACTIVE_LIVER_ICD10))
    active_icd["K7581"] = next(
        (
            {"display": c["display"], "status": c["status"], "source": f"codes.json ({c['source']})"}
            for c in liver["icd10"]
            if c["code"] == "K75.81"
        ),
        active_icd["K7581"],
    )
    out["active-liver-disease"] = _category(
        "Active hepatic disease (dantrolene label contraindication: 'active hepatic disease, such as hepatitis "
        "and cirrhosis'): cirrhosis, acute or chronic hepatitis, hepatic failure. Fatty liver alone is not.",
        active_icd,
        {**out["cirrhosis"]["snomed"], **_snomed_entries(None, ACTIVE_LIVER_SNOMED)},
    )
    renal = conditions["renal_impairment"]
    for category, (icd, snomed) in CKD_STAGES.items():
        entries = _icd_entries(None, icd)
        for code in list(entries):
            example = next((c for c in renal["icd10"] if c["code"].replace(".", "").startswith(code)), None)
            if example is not None:
                entries[code] = {**entries[code], "status": "verified", "source": f"codes.json ({example['source']})"}
        sn = _snomed_entries(None, snomed)
        if "46177005" in sn:
            sn["46177005"] = {**sn["46177005"], "status": "verified", "source": "codes.json (VSAC_canvas)"}
        out[category] = _category(f"Chronic kidney disease, stage {category[-1]}", entries, sn)
    dialysis = _icd_entries(None, DIALYSIS_ICD10)
    dialysis["Z992"] = {
        **dialysis["Z992"],
        "status": "verified",
        "source": "codes.json (VSAC_canvas (CMS-HCC 2018 map))",
    }
    out["dialysis"] = _category(
        "Dependence on or care involving renal dialysis", dialysis, _snomed_entries(None, DIALYSIS_SNOMED)
    )
    out["alcohol-use-disorder"] = _category(
        "Alcohol abuse or dependence (a reason to expect low magnesium)",
        _icd_entries(None, ALCOHOL_USE_DISORDER_ICD10),
        _snomed_entries(None, ALCOHOL_USE_DISORDER_SNOMED),
    )
    out["hepatic-decompensation"] = _category(
        "Decompensated liver disease, liver-specific codes: ascites with alcoholic liver disease, hepatic "
        "failure, hepatic encephalopathy, hepatorenal syndrome, spontaneous bacterial peritonitis, bleeding "
        "varices (moderate to severe hepatic impairment: facts/hepatic.py)",
        _icd_entries(None, HEPATIC_DECOMPENSATION_ICD10),
        _snomed_entries(None, HEPATIC_DECOMPENSATION_SNOMED),
    )
    out["ascites"] = _category(
        "Ascites: a sign of decompensation only beside a liver condition (it also comes from heart failure and cancer)",
        _icd_entries(None, ASCITES_ICD10),
        _snomed_entries(None, ASCITES_SNOMED),
    )
    spasm_icd = _icd_entries(None, MUSCLE_SPASM_ICD10)
    spasm_icd["M6283"] = {**out["acute-musculoskeletal"]["icd10"]["M6283"]}
    out["muscle-spasm"] = _category(
        "Muscle spasm itself (back, calf, other; SNOMED spasm), a subset of acute-musculoskeletal",
        spasm_icd,
        {"45352006": out["acute-musculoskeletal"]["snomed"]["45352006"]},
    )
    out["acute-kidney-injury"] = _category(
        "Acute kidney injury: kidney function falling, an eGFR not at steady state (issue 19)",
        _icd_entries(None, ACUTE_KIDNEY_INJURY_ICD10),
        _snomed_entries(None, ACUTE_KIDNEY_INJURY_SNOMED),
    )
    out["relaxant-adverse-effect"] = _category(
        "Adverse effect of, or poisoning by, a central muscle-tone depressant such as baclofen (T42.8X-): "
        "a reason to stop that the labels' rapid-withdrawal exception covers (issue 19)",
        _icd_entries(None, RELAXANT_ADVERSE_EFFECT_ICD10),
        {},
    )
    out["encephalopathy"] = _category(
        "Toxic or other encephalopathy: with baclofen, the toxicity Beers 2023 and the label warn of (issue 19)",
        _icd_entries(None, ENCEPHALOPATHY_ICD10),
        _snomed_entries(None, ENCEPHALOPATHY_SNOMED),
    )
    # The cyclobenzaprine cardiac contraindications split into the categories the rules read.
    cardiac = conditions["cyclobenzaprine_cardiac_contraindications"]
    snomed = {s["code"]: s for s in cardiac["snomed"]}

    def pick(codes_: list[str]) -> dict[str, Any]:
        return {
            c: {
                "display": snomed[c]["display"],
                "status": snomed[c]["status"],
                "source": f"codes.json ({snomed[c]['source']})",
            }
            for c in codes_
        }

    out["recent-mi"] = {
        "description": "Acute MI: ICD-10-CM I21/I22 (used for 28 days from onset) or SNOMED MI with onset "
        "within 28 days",
        "icd10_prefixes": ["I21", "I22"],
        "snomed": pick(["22298006", "57054005"]),
        "onset_window_days": 28,
    }
    out["cardiac-conduction"] = {
        "description": "Heart block / conduction disturbance",
        "icd10_prefixes": ["I44", "I45"],
        "snomed": pick(["44808001", "233916004"]),
    }
    out["cardiac-arrhythmia"] = {
        "description": "Arrhythmia",
        "icd10_prefixes": ["I47", "I48", "I49"],
        "snomed": pick(["698247007", "49436004"]),
    }
    out["heart-failure"] = {
        "description": "Heart failure",
        "icd10_prefixes": ["I50"],
        "snomed": pick(["84114007", "42343007"]),
    }
    covered = {
        p
        for c in ("recent-mi", "cardiac-conduction", "cardiac-arrhythmia", "heart-failure")
        for p in out[c]["icd10_prefixes"]
    }
    assert covered == {p.replace(".", "") for p in cardiac["icd10_prefixes"]}, covered
    assert set(snomed) == {
        c for k in ("recent-mi", "cardiac-conduction", "cardiac-arrhythmia", "heart-failure") for c in out[k]["snomed"]
    }
    return out


# eGFR codes the facts read. The brief's candidates were checked against codes.json (VSAC
# 'Estimated Glomerular Filtration Rate' 2.16.840.1.113883.3.6929.3.1000). Race-based "among blacks"
# values are real LOINC codes but are left out: they apply a race coefficient the service cannot know
# applies to this patient (and the race-free companion value is reported beside them).
EGFR_CANDIDATES = ["33914-3", "48642-3", "48643-1", "62238-1", "88293-6", "88294-4", "98979-8", "69405-9"]
EGFR_RACE_BASED = {"48643-1", "88293-6"}
# Not in codes.json but a real LOINC code: HL7 FHIR Clinical Guidelines STU1 ValueSet ckd-valueset-egfr
# and the FHIR R4 example Observation f205 (MDRD eGFR in serum or plasma; older EHR data still carry it).
EGFR_FROM_HL7 = {
    "33914-3": "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum or Plasma by "
    "Creatinine-based formula (MDRD)",
}
# Race-free codes of the same VSAC set beyond the brief's list.
EGFR_ALSO = {"98980-6", "77147-7", "50210-4"}
# Codes preferred among same-day results (the race-free CKD-EPI 2021 equations).
EGFR_PREFERRED = {"98979-8", "98980-6"}
CREATININE_CODES = {"2160-0": "mg/dL", "38483-4": "mg/dL", "14682-9": "umol/L", "77140-2": "umol/L"}


def build_labs(codes: dict[str, Any]) -> dict[str, Any]:
    loinc = codes["loinc"]
    vsac_egfr = loinc["egfr"]["codes"]
    egfr: dict[str, Any] = {}
    dropped: dict[str, str] = {}
    for code in EGFR_CANDIDATES + sorted(EGFR_ALSO):
        if code in EGFR_RACE_BASED:
            dropped[code] = f"{vsac_egfr[code]}: race-based value (a race coefficient), not used"
            continue
        if code in vsac_egfr:
            egfr[code] = {
                "display": vsac_egfr[code],
                "source": "codes.json VSAC_egfr",
                "status": "verified",
                "preferred": code in EGFR_PREFERRED,
            }
        elif code in EGFR_FROM_HL7:
            egfr[code] = {
                "display": EGFR_FROM_HL7[code],
                "status": "verified",
                "preferred": False,
                "source": "HL7 FHIR Clinical Guidelines STU1 ValueSet ckd-valueset-egfr; FHIR R4 "
                "observation-example-f205-egfr (not in the VSAC set of codes.json)",
            }
        else:
            dropped[code] = "not found in codes.json or an HL7 source"
    creatinine_vsac = loinc["creatinine_serum"]["codes"]
    creatinine = {
        code: {
            "display": creatinine_vsac[code],
            "unit": unit,
            "source": "codes.json VSAC_creatinine",
            "status": "verified",
        }
        for code, unit in CREATININE_CODES.items()
    }
    return {
        "potassium": {
            "codes": loinc["potassium_serum_plasma_blood"]["codes"],
            "mass_codes": ["75940-7"],
            "notes": loinc["potassium_serum_plasma_blood"]["notes"],
        },
        "magnesium": {
            "codes": loinc["magnesium_serum_plasma"]["codes"],
            "excluded": loinc["magnesium_serum_plasma"]["exclude"],
        },
        "egfr": {"codes": egfr, "dropped": dropped, "unit": "mL/min/{1.73_m2}"},
        "creatinine": {
            "codes": creatinine,
            "notes": "mg/dL codes (2160-0, 38483-4) and umol/L codes (14682-9, 77140-2); umol/L / 88.42 = mg/dL",
        },
        "conversion": codes["units"],
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, default=DEFAULT_REFERENCE)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    codes_path = args.reference / "codes.json"
    names_path = args.reference / "rxnorm-prescribable-names.json"
    codes = json.loads(codes_path.read_text())
    prescribable = json.loads(names_path.read_text())

    meta = {
        "generated": dt.date.today().isoformat(),
        "generated_by": "scripts/build_terminology.py",
        "sources": [
            {"file": "codes.json", "sha256": _sha256(codes_path), "generated": codes["meta"]["generated"]},
            {
                "file": "rxnorm-prescribable-names.json",
                "sha256": _sha256(names_path),
                "note": "RxNorm prescribable names used by the CDS Hooks sandbox medication picker",
            },
        ],
    }
    classes = ingredient_classes(codes)
    products, _ = build_products(codes, prescribable, sorted(classes))
    ingredient_codes = {
        entry["ingredient"]: {"ingredient": key, "status": entry.get("ingredient_status", "unverified")}
        for key, entry in codes["rxnorm"].items()
        if entry.get("ingredient")
    }
    args.out.mkdir(parents=True, exist_ok=True)

    def write(name: str, body: dict[str, Any], purpose: str) -> None:
        payload = {"meta": {**meta, "purpose": purpose}, **body}
        (args.out / name).write_text(json.dumps(payload, indent=1, sort_keys=False, ensure_ascii=False) + "\n")

    write(
        "rxnorm_products.json",
        {
            "products": products,
            "ingredient_codes": ingredient_codes,
            "brands": build_brands(products),
            "brand_routes": BRAND_ROUTES,
            "extended_release_brands": sorted(EXTENDED_RELEASE_BRANDS),
        },
        "RxCUI -> rule ingredients with strength (mg per unit, or per mL when per_ml), dose form, route, "
        "brand. Only ingredients the rules use are kept; a combination product lists each of them.",
    )
    write(
        "drug_classes.json",
        {
            "classes": {k: sorted(v) for k, v in sorted(classes.items())},
            "class_sources": {
                **{k: {"source": v["source"], "status": v["status"]} for k, v in EXTRA_CLASSES.items()},
                "serotonergic": {
                    "source": "codes.json drug_classes (ssri, snri, tca, maoi, triptans, serotonergic_opioids, "
                    "other_serotonergic) and cyclobenzaprine",
                    "status": "codes.json",
                    "excluded": {
                        n: "named by the cyclobenzaprine label only; serotonergic only beside "
                        "cyclobenzaprine (the rules decide)"
                        for n in sorted(NOT_SEROTONERGIC_IN_GENERAL)
                    },
                },
            },
        },
        "Ingredient -> DrugClass values (facts.model.DrugClass), with the source of each added class.",
    )
    write(
        "conditions.json",
        {"categories": build_conditions(codes)},
        "ConditionCategory -> ICD-10-CM prefixes (undotted) and SNOMED CT codes; status per SNOMED code.",
    )
    write(
        "labs.json",
        build_labs(codes),
        "LOINC allowlists for serum/plasma/blood potassium and magnesium, eGFR and serum creatinine.",
    )
    by_ingredient: dict[str, int] = {}
    for product in products.values():
        for ing in product["ingredients"]:
            by_ingredient[ing["ingredient"]] = by_ingredient.get(ing["ingredient"], 0) + 1
    missing = sorted(set(classes) - set(by_ingredient))
    print(f"{len(products)} products, {len(by_ingredient)} ingredients with products")
    print("ingredients without any product code (name matching only):", ", ".join(missing))


if __name__ == "__main__":
    main()
