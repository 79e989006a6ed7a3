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
- `labs.json`: LOINC allowlists for serum/plasma/blood potassium and magnesium.

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
    "Ryanodex": ["dantrolene"],
    "Revonto": ["dantrolene"],
    "Robaxin": ["methocarbamol"],
    "Soma": ["carisoprodol"],
    "Skelaxin": ["metaxalone"],
    "Norflex": ["orphenadrine"],
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
    add(dc["other_serotonergic"], "serotonergic")
    add(dc["strong_cyp1a2_inhibitors_tizanidine_contraindicated"], "strong-cyp1a2-inhibitor")
    # Cyclobenzaprine is structurally a TCA and its label warns of serotonin syndrome.
    add(["cyclobenzaprine"], "serotonergic")
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
        products[rxcui] = {
            "name": name,
            "ingredients": ours,
            "components": len(parsed["components"]),
            "form": parsed["form"] or None,
            "route": route,
            "brand": parsed["brand"],
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
        entry = conditions[key]
        out[category] = {
            "description": entry["description"],
            "icd10_prefixes": sorted({p.replace(".", "").upper() for p in entry["icd10_prefixes"]}),
            "snomed": {s["code"]: {"display": s["display"], "status": s["status"]} for s in entry["snomed"]},
        }
    # The cyclobenzaprine cardiac contraindications split into the categories the rules read.
    cardiac = conditions["cyclobenzaprine_cardiac_contraindications"]
    snomed = {s["code"]: s for s in cardiac["snomed"]}

    def pick(codes_: list[str]) -> dict[str, Any]:
        return {c: {"display": snomed[c]["display"], "status": snomed[c]["status"]} for c in codes_}

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


def build_labs(codes: dict[str, Any]) -> dict[str, Any]:
    loinc = codes["loinc"]
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
        },
        "RxCUI -> rule ingredients with strength (mg per unit, or per mL when per_ml), dose form, route, "
        "brand. Only ingredients the rules use are kept; a combination product lists each of them.",
    )
    write(
        "drug_classes.json",
        {"classes": {k: sorted(v) for k, v in sorted(classes.items())}},
        "Ingredient -> DrugClass values (facts.model.DrugClass).",
    )
    write(
        "conditions.json",
        {"categories": build_conditions(codes)},
        "ConditionCategory -> ICD-10-CM prefixes (undotted) and SNOMED CT codes; status per SNOMED code.",
    )
    write("labs.json", build_labs(codes), "LOINC allowlists for serum/plasma/blood potassium and magnesium.")
    by_ingredient: dict[str, int] = {}
    for product in products.values():
        for ing in product["ingredients"]:
            by_ingredient[ing["ingredient"]] = by_ingredient.get(ing["ingredient"], 0) + 1
    missing = sorted(set(classes) - set(by_ingredient))
    print(f"{len(products)} products, {len(by_ingredient)} ingredients with products")
    print("ingredients without any product code (name matching only):", ", ".join(missing))


if __name__ == "__main__":
    main()
