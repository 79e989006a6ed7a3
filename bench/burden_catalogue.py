# ruff: noqa: E501  (the two catalogues below are tables, one row a line)
"""What the alert-burden population is made of: drugs, conditions, and the clinical classes of each.

This is the benchmark's own clinical knowledge, written from the FDA labels, AGS Beers 2023 and
`shared/reference/clinical-facts.md` (§2, §4, §6). It deliberately does not import the service's
terminology tables (`cds_service/facts/data/`): the ground truth must stay independent of the code it
measures. RxCUIs are RxNorm SCDs from the RxNorm prescribable content (the same names file the
service's tables were built from); `tests/bench/test_alert_burden.py` checks that the codes of drugs
the service claims to know are spelled as its table spells them.

Condition codes: ICD-10-CM (dotted, as FHIR sends them) and SNOMED CT. A condition that decides a
need (cardiac, liver, kidney, spasticity, cramps, thyroid) is only ever sent SNOMED-only when its
SNOMED code is one of `codes.json`'s; others always carry their ICD-10-CM code.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- clinical classes the ground truth reasons with ---------------------------------------------
RELAXANT = "muscle-relaxant"  # every skeletal muscle relaxant, antispasticity agents included
BEERS_SMR = "beers-smr"  # the six antispasmodics Beers 2023 says to avoid at >= 65
BENZODIAZEPINE = "benzodiazepine"
OPIOID = "opioid"
GABAPENTINOID = "gabapentinoid"
Z_DRUG = "z-drug"
SSRI = "ssri"
SNRI = "snri"
TCA = "tca"
MAOI = "maoi"
SEROTONERGIC_LABEL = "serotonergic-label"  # named in the cyclobenzaprine label besides SSRI/SNRI/TCA/tramadol
SEROTONERGIC_OTHER = "serotonergic-other"  # serotonergic, not named by the cyclobenzaprine label
CYP1A2_STRONG = "cyp1a2-strong"  # fluvoxamine, ciprofloxacin: tizanidine contraindicated
CYP1A2_OTHER = "cyp1a2-other"  # the tizanidine label's other CYP1A2 inhibitors
ANTIPSYCHOTIC = "antipsychotic"
ANTIEPILEPTIC = "antiepileptic"
ANTIDEPRESSANT = "antidepressant"  # Beers CNS-active count: TCA, SSRI, SNRI
SEDATING_ANTIDEPRESSANT = "sedating-antidepressant"  # TCA, trazodone, mirtazapine (CNS-depressant count)
LOOP = "loop-diuretic"
THIAZIDE = "thiazide-diuretic"
PPI = "ppi"
K_SUPPLEMENT = "potassium-supplement"
MG_SUPPLEMENT = "magnesium-supplement"

# Drugs that add to sedation with a muscle relaxant (S18; labels): the "two CNS depressants" count.
CNS_DEPRESSANT_CLASSES = frozenset(
    {RELAXANT, BENZODIAZEPINE, OPIOID, GABAPENTINOID, Z_DRUG, SEDATING_ANTIDEPRESSANT, ANTIPSYCHOTIC}
)
# AGS Beers 2023, drug-drug table: avoid >= 3 CNS-active drugs (antiepileptics incl. gabapentinoids,
# antidepressants TCA/SSRI/SNRI, antipsychotics, benzodiazepines, Z-drugs, opioids, skeletal muscle relaxants).
BEERS_CNS_ACTIVE_CLASSES = frozenset(
    {RELAXANT, BENZODIAZEPINE, OPIOID, GABAPENTINOID, Z_DRUG, ANTIDEPRESSANT, ANTIPSYCHOTIC, ANTIEPILEPTIC}
)

# Label maxima in mg/day (FDA labels; Texas VDP DUR criteria for carisoprodol, chlorzoxazone,
# cyclobenzaprine; methocarbamol: "up to 8 g daily" in severe conditions). Above: a warning, baclofen a
# critical (the brief's stance).
LABEL_MAX_MG_PER_DAY = {
    "baclofen": 80.0,
    "cyclobenzaprine": 30.0,
    "tizanidine": 36.0,
    "carisoprodol": 1400.0,
    "metaxalone": 3200.0,
    "chlorzoxazone": 3000.0,
    "methocarbamol": 8000.0,
    "orphenadrine": 200.0,
    "dantrolene": 400.0,
}


@dataclass(frozen=True, slots=True)
class Drug:
    key: str
    rxcui: str
    name: str  # RxNorm SCD name
    ingredient: str  # the ingredient the rules are about (the opioid of an opioid/acetaminophen tablet)
    strength: float  # per tablet/capsule, in `strength_unit`; intrathecal: mcg per mL... of the pump refill
    classes: frozenset[str]
    form: str = "tablet"  # tablet | capsule | pump
    route: str = "oral"  # oral | intrathecal
    strength_unit: str = "mg"  # mg | mcg | meq


# key | RxCUI | strength | form[/route] | classes | ingredient | RxNorm name
_DRUG_TABLE = """
baclofen-5            | 430902  | 5        | tablet           | muscle-relaxant                            | baclofen            | baclofen 5 MG Oral Tablet
baclofen-10           | 197391  | 10       | tablet           | muscle-relaxant                            | baclofen            | Baclofen 10 MG Oral Tablet
baclofen-20           | 197392  | 20       | tablet           | muscle-relaxant                            | baclofen            | Baclofen 20 MG Oral Tablet
baclofen-itb          | 1666613 | 2000 mcg | pump/intrathecal | muscle-relaxant                            | baclofen            | 20 ML baclofen 2 MG/ML Injection
tizanidine-2          | 313412  | 2        | tablet           | muscle-relaxant                            | tizanidine          | tizanidine 2 MG Oral Tablet
tizanidine-4          | 313413  | 4        | tablet           | muscle-relaxant                            | tizanidine          | tizanidine 4 MG Oral Tablet
tizanidine-6c         | 485484  | 6        | capsule          | muscle-relaxant                            | tizanidine          | tizanidine 6 MG Oral Capsule
cyclobenzaprine-5     | 828320  | 5        | tablet           | beers-smr,muscle-relaxant                  | cyclobenzaprine     | Cyclobenzaprine hydrochloride 5 MG Oral Tablet
cyclobenzaprine-7.5   | 828299  | 7.5      | tablet           | beers-smr,muscle-relaxant                  | cyclobenzaprine     | Cyclobenzaprine hydrochloride 7.5 MG Oral Tablet
cyclobenzaprine-10    | 828348  | 10       | tablet           | beers-smr,muscle-relaxant                  | cyclobenzaprine     | Cyclobenzaprine hydrochloride 10 MG Oral Tablet
cyclobenzaprine-er-15 | 828358  | 15       | capsule          | beers-smr,muscle-relaxant                  | cyclobenzaprine     | 24 HR Cyclobenzaprine hydrochloride 15 MG Extended Release Oral Capsule
methocarbamol-500     | 197943  | 500      | tablet           | beers-smr,muscle-relaxant                  | methocarbamol       | Methocarbamol 500 MG Oral Tablet
methocarbamol-750     | 197944  | 750      | tablet           | beers-smr,muscle-relaxant                  | methocarbamol       | Methocarbamol 750 MG Oral Tablet
carisoprodol-350      | 197446  | 350      | tablet           | beers-smr,muscle-relaxant                  | carisoprodol        | Carisoprodol 350 MG Oral Tablet
carisoprodol-250      | 730794  | 250      | tablet           | beers-smr,muscle-relaxant                  | carisoprodol        | Carisoprodol 250 MG Oral Tablet
metaxalone-800        | 351254  | 800      | tablet           | beers-smr,muscle-relaxant                  | metaxalone          | metaxalone 800 MG Oral Tablet
metaxalone-400        | 197935  | 400      | tablet           | beers-smr,muscle-relaxant                  | metaxalone          | metaxalone 400 MG Oral Tablet
orphenadrine-er-100   | 994521  | 100      | tablet           | beers-smr,muscle-relaxant                  | orphenadrine        | 12 HR Orphenadrine Citrate 100 MG Extended Release Oral Tablet
chlorzoxazone-500     | 197502  | 500      | tablet           | beers-smr,muscle-relaxant                  | chlorzoxazone       | Chlorzoxazone 500 MG Oral Tablet
chlorzoxazone-750     | 1088936 | 750      | tablet           | beers-smr,muscle-relaxant                  | chlorzoxazone       | Chlorzoxazone 750 MG Oral Tablet
dantrolene-25         | 856656  | 25       | capsule          | muscle-relaxant                            | dantrolene          | Dantrolene Sodium 25 MG Oral Capsule
dantrolene-50         | 856660  | 50       | capsule          | muscle-relaxant                            | dantrolene          | Dantrolene Sodium 50 MG Oral Capsule
dantrolene-100        | 856652  | 100      | capsule          | muscle-relaxant                            | dantrolene          | Dantrolene Sodium 100 MG Oral Capsule
dantrolene-iv-20      | 856696  | 20       | vial/intravenous | muscle-relaxant                            | dantrolene          | dantrolene sodium 20 MG Injection
diazepam-5            | 197591  | 5        | tablet           | benzodiazepine                             | diazepam            | Diazepam 5 MG Oral Tablet
lorazepam-0.5         | 197900  | 0.5      | tablet           | benzodiazepine                             | lorazepam           | Lorazepam 0.5 MG Oral Tablet
lorazepam-1           | 197901  | 1        | tablet           | benzodiazepine                             | lorazepam           | Lorazepam 1 MG Oral Tablet
alprazolam-0.5        | 308048  | 0.5      | tablet           | benzodiazepine                             | alprazolam          | Alprazolam 0.5 MG Oral Tablet
clonazepam-0.5        | 197527  | 0.5      | tablet           | benzodiazepine                             | clonazepam          | Clonazepam 0.5 MG Oral Tablet
hydrocodone-apap      | 857002  | 5        | tablet           | opioid                                     | hydrocodone         | Acetaminophen 325 MG / Hydrocodone Bitartrate 5 MG Oral Tablet
oxycodone-5           | 1049621 | 5        | tablet           | opioid                                     | oxycodone           | Oxycodone Hydrochloride 5 MG Oral Tablet
oxycodone-apap        | 1049221 | 5        | tablet           | opioid                                     | oxycodone           | Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet
tramadol-50           | 835603  | 50       | tablet           | opioid                                     | tramadol            | tramadol hydrochloride 50 MG Oral Tablet
morphine-er-15        | 891881  | 15       | tablet           | opioid                                     | morphine            | Morphine Sulfate 15 MG Extended Release Oral Tablet
gabapentin-300        | 310431  | 300      | capsule          | antiepileptic,gabapentinoid                | gabapentin          | gabapentin 300 MG Oral Capsule
gabapentin-600        | 310433  | 600      | tablet           | antiepileptic,gabapentinoid                | gabapentin          | gabapentin 600 MG Oral Tablet
pregabalin-75         | 483450  | 75       | capsule          | antiepileptic,gabapentinoid                | pregabalin          | pregabalin 75 MG Oral Capsule
zolpidem-10           | 854873  | 10       | tablet           | z-drug                                     | zolpidem            | Zolpidem tartrate 10 MG Oral Tablet
zolpidem-5            | 854876  | 5        | tablet           | z-drug                                     | zolpidem            | Zolpidem tartrate 5 MG Oral Tablet
sertraline-50         | 312941  | 50       | tablet           | antidepressant,ssri                        | sertraline          | Sertraline 50 MG Oral Tablet
sertraline-100        | 312938  | 100      | tablet           | antidepressant,ssri                        | sertraline          | Sertraline 100 MG Oral Tablet
fluoxetine-20         | 310385  | 20       | capsule          | antidepressant,ssri                        | fluoxetine          | Fluoxetine 20 MG Oral Capsule
escitalopram-10       | 349332  | 10       | tablet           | antidepressant,ssri                        | escitalopram        | Escitalopram 10 MG Oral Tablet
citalopram-20         | 200371  | 20       | tablet           | antidepressant,ssri                        | citalopram          | Citalopram 20 MG Oral Tablet
paroxetine-20         | 314199  | 20       | tablet           | antidepressant,ssri                        | paroxetine          | Paroxetine 20 MG Oral Tablet
fluvoxamine-50        | 903891  | 50       | tablet           | antidepressant,cyp1a2-strong,ssri          | fluvoxamine         | Fluvoxamine Maleate 50 MG Oral Tablet
duloxetine-60         | 596934  | 60       | capsule          | antidepressant,snri                        | duloxetine          | duloxetine 60 MG Delayed Release Oral Capsule
venlafaxine-er-75     | 313585  | 75       | capsule          | antidepressant,snri                        | venlafaxine         | 24 HR venlafaxine 75 MG Extended Release Oral Capsule
amitriptyline-25      | 856834  | 25       | tablet           | antidepressant,sedating-antidepressant,tca | amitriptyline       | Amitriptyline Hydrochloride 25 MG Oral Tablet
nortriptyline-25      | 317136  | 25       | capsule          | antidepressant,sedating-antidepressant,tca | nortriptyline       | Nortriptyline 25 MG Oral Capsule
phenelzine-15         | 312347  | 15       | tablet           | maoi                                       | phenelzine          | Phenelzine 15 MG Oral Tablet
selegiline-5          | 859193  | 5        | tablet           | maoi                                       | selegiline          | selegiline hydrochloride 5 MG Oral Tablet
rasagiline-1          | 608328  | 1        | tablet           | maoi                                       | rasagiline          | rasagiline 1 MG Oral Tablet
linezolid-600         | 311347  | 600      | tablet           | maoi                                       | linezolid           | linezolid 600 MG Oral Tablet
trazodone-50          | 856377  | 50       | tablet           | sedating-antidepressant,serotonergic-other | trazodone           | Trazodone Hydrochloride 50 MG Oral Tablet
mirtazapine-15        | 311725  | 15       | tablet           | sedating-antidepressant,serotonergic-other | mirtazapine         | Mirtazapine 15 MG Oral Tablet
bupropion-xl-150      | 993541  | 150      | tablet           | serotonergic-label                         | bupropion           | 24 HR Bupropion Hydrochloride 150 MG Extended Release Oral Tablet
ondansetron-4         | 198052  | 4        | tablet           | serotonergic-other                         | ondansetron         | Ondansetron 4 MG Oral Tablet
sumatriptan-50        | 313161  | 50       | tablet           | serotonergic-other                         | sumatriptan         | Sumatriptan 50 MG Oral Tablet
ciprofloxacin-500     | 309309  | 500      | tablet           | cyp1a2-strong                              | ciprofloxacin       | Ciprofloxacin 500 MG Oral Tablet
famotidine-20         | 310273  | 20       | tablet           | cyp1a2-other                               | famotidine          | famotidine 20 MG Oral Tablet
cimetidine-400        | 197507  | 400      | tablet           | cyp1a2-other                               | cimetidine          | cimetidine 400 MG Oral Tablet
amiodarone-200        | 833528  | 200      | tablet           | cyp1a2-other                               | amiodarone          | amiodarone hydrochloride 200 MG Oral Tablet
verapamil-80          | 897683  | 80       | tablet           | cyp1a2-other,serotonergic-label            | verapamil           | Verapamil hydrochloride 80 MG Oral Tablet
verapamil-er-240      | 897624  | 240      | capsule          | cyp1a2-other,serotonergic-label            | verapamil           | 24 HR Verapamil hydrochloride 240 MG Extended Release Oral Capsule
acyclovir-400         | 197311  | 400      | tablet           | cyp1a2-other                               | acyclovir           | acyclovir 400 MG Oral Tablet
mexiletine-150        | 1362706 | 150      | capsule          | cyp1a2-other                               | mexiletine          | Mexiletine Hydrochloride 150 MG Oral Capsule
oral-contraceptive    | 312033  | 0.035    | tablet           | cyp1a2-other                               | ethinyl estradiol   | Ethinyl Estradiol 0.035 MG / Norethindrone 1 MG Oral Tablet
quetiapine-25         | 312744  | 25       | tablet           | antipsychotic                              | quetiapine          | quetiapine 25 MG Oral Tablet
risperidone-1         | 312830  | 1        | tablet           | antipsychotic                              | risperidone         | Risperidone 1 MG Oral Tablet
levetiracetam-500     | 311289  | 500      | tablet           | antiepileptic                              | levetiracetam       | Levetiracetam 500 MG Oral Tablet
lamotrigine-100       | 198427  | 100      | tablet           | antiepileptic                              | lamotrigine         | lamotrigine 100 MG Oral Tablet
furosemide-20         | 310429  | 20       | tablet           | loop-diuretic                              | furosemide          | furosemide 20 MG Oral Tablet
furosemide-40         | 313988  | 40       | tablet           | loop-diuretic                              | furosemide          | furosemide 40 MG Oral Tablet
torsemide-20          | 198371  | 20       | tablet           | loop-diuretic                              | torsemide           | torsemide 20 MG Oral Tablet
bumetanide-1          | 197418  | 1        | tablet           | loop-diuretic                              | bumetanide          | Bumetanide 1 MG Oral Tablet
hctz-25               | 310798  | 25       | tablet           | thiazide-diuretic                          | hydrochlorothiazide | hydrochlorothiazide 25 MG Oral Tablet
chlorthalidone-25     | 197499  | 25       | tablet           | thiazide-diuretic                          | chlorthalidone      | chlorthalidone 25 MG Oral Tablet
spironolactone-25     | 313096  | 25       | tablet           | -                                          | spironolactone      | spironolactone 25 MG Oral Tablet
omeprazole-20         | 198051  | 20       | capsule          | ppi                                        | omeprazole          | omeprazole 20 MG Delayed Release Oral Capsule
pantoprazole-40       | 314200  | 40       | tablet           | ppi                                        | pantoprazole        | pantoprazole 40 MG Delayed Release Oral Tablet
esomeprazole-40       | 606730  | 40       | capsule          | ppi                                        | esomeprazole        | Esomeprazole 40 MG Delayed Release Oral Capsule
kcl-20                | 198116  | 20 meq   | tablet           | potassium-supplement                       | potassium chloride  | potassium chloride 20 MEQ Extended Release Oral Tablet
mg-oxide-400          | 198741  | 400      | tablet           | magnesium-supplement                       | magnesium oxide     | magnesium oxide 400 MG Oral Tablet
atorvastatin-20       | 617310  | 20       | tablet           | -                                          | atorvastatin        | atorvastatin 20 MG Oral Tablet
atorvastatin-40       | 617311  | 40       | tablet           | -                                          | atorvastatin        | atorvastatin 40 MG Oral Tablet
rosuvastatin-10       | 859747  | 10       | tablet           | -                                          | rosuvastatin        | rosuvastatin calcium 10 MG Oral Tablet
amlodipine-5          | 197361  | 5        | tablet           | -                                          | amlodipine          | amlodipine 5 MG Oral Tablet
lisinopril-10         | 314076  | 10       | tablet           | -                                          | lisinopril          | lisinopril 10 MG Oral Tablet
losartan-50           | 979492  | 50       | tablet           | -                                          | losartan            | losartan potassium 50 MG Oral Tablet
metoprolol-er-50      | 866436  | 50       | tablet           | -                                          | metoprolol          | 24 HR metoprolol succinate 50 MG Extended Release Oral Tablet
carvedilol-12.5       | 200032  | 12.5     | tablet           | -                                          | carvedilol          | carvedilol 12.5 MG Oral Tablet
metformin-500         | 861007  | 500      | tablet           | -                                          | metformin           | metformin hydrochloride 500 MG Oral Tablet
glipizide-5           | 310490  | 5        | tablet           | -                                          | glipizide           | Glipizide 5 MG Oral Tablet
levothyroxine-50      | 966221  | 0.05     | tablet           | -                                          | levothyroxine       | levothyroxine sodium 0.05 MG Oral Tablet
apixaban-5            | 1364445 | 5        | tablet           | -                                          | apixaban            | apixaban 5 MG Oral Tablet
warfarin-5            | 855332  | 5        | tablet           | -                                          | warfarin            | warfarin sodium 5 MG Oral Tablet
aspirin-81            | 308416  | 81       | tablet           | -                                          | aspirin             | aspirin 81 MG Delayed Release Oral Tablet
clopidogrel-75        | 309362  | 75       | tablet           | -                                          | clopidogrel         | clopidogrel 75 MG Oral Tablet
montelukast-10        | 200224  | 10       | tablet           | -                                          | montelukast         | montelukast 10 MG Oral Tablet
cetirizine-10         | 1014678 | 10       | tablet           | -                                          | cetirizine          | cetirizine hydrochloride 10 MG Oral Tablet
amoxicillin-500       | 308191  | 500      | capsule          | -                                          | amoxicillin         | amoxicillin 500 MG Oral Capsule
cephalexin-500        | 309114  | 500      | capsule          | -                                          | cephalexin          | Cephalexin 500 MG Oral Capsule
nitrofurantoin-100    | 311992  | 100      | capsule          | -                                          | nitrofurantoin      | Nitrofurantoin 100 MG Oral Capsule
azithromycin-250      | 308460  | 250      | tablet           | -                                          | azithromycin        | Azithromycin 250 MG Oral Tablet
prednisone-20         | 312615  | 20       | tablet           | -                                          | prednisone          | Prednisone 20 MG Oral Tablet
ibuprofen-600         | 197806  | 600      | tablet           | -                                          | ibuprofen           | ibuprofen 600 MG Oral Tablet
naproxen-500          | 198014  | 500      | tablet           | -                                          | naproxen            | naproxen 500 MG Oral Tablet
acetaminophen-500     | 198440  | 500      | tablet           | -                                          | acetaminophen       | acetaminophen 500 MG Oral Tablet
allopurinol-100       | 197319  | 100      | tablet           | -                                          | allopurinol         | allopurinol 100 MG Oral Tablet
tamsulosin-0.4        | 863669  | 0.4      | capsule          | -                                          | tamsulosin          | tamsulosin hydrochloride 0.4 MG Oral Capsule
donepezil-10          | 997223  | 10       | tablet           | -                                          | donepezil           | donepezil hydrochloride 10 MG Oral Tablet
methylphenidate-10    | 1091150 | 10       | tablet           | -                                          | methylphenidate     | Methylphenidate Hydrochloride 10 MG Oral Tablet
propranolol-20        | 856457  | 20       | tablet           | -                                          | propranolol         | Propranolol Hydrochloride 20 MG Oral Tablet
rifaximin-550         | 856664  | 550      | tablet           | -                                          | rifaximin           | rifaximin 550 MG Oral Tablet
methimazole-10        | 197941  | 10       | tablet           | -                                          | methimazole         | Methimazole 10 MG Oral Tablet
digoxin-0.125         | 197604  | 0.125    | tablet           | -                                          | digoxin             | Digoxin 0.125 MG Oral Tablet
levofloxacin-500      | 199885  | 500      | tablet           | cyp1a2-other                               | levofloxacin        | Levofloxacin 500 MG Oral Tablet
hydroxyzine-25        | 995258  | 25       | tablet           | -                                          | hydroxyzine         | Hydroxyzine Hydrochloride 25 MG Oral Tablet
ferrous-sulfate-325   | 310325  | 325      | tablet           | -                                          | ferrous sulfate     | ferrous sulfate 325 MG Oral Tablet
"""


def _parse_drugs(table: str) -> dict[str, Drug]:
    out: dict[str, Drug] = {}
    for line in table.strip().splitlines():
        key, rxcui, strength, form, classes, ingredient, name = (part.strip() for part in line.split("|"))
        amount, _, unit = strength.partition(" ")
        form, _, route = form.partition("/")
        out[key] = Drug(
            key=key,
            rxcui=rxcui,
            name=name,
            ingredient=ingredient,
            strength=float(amount),
            classes=frozenset() if classes == "-" else frozenset(classes.split(",")),
            form=form,
            route=route or "oral",
            strength_unit=unit or "mg",
        )
    return out


DRUGS: dict[str, Drug] = _parse_drugs(_DRUG_TABLE)
RELAXANT_INGREDIENTS = frozenset(d.ingredient for d in DRUGS.values() if RELAXANT in d.classes)
BEERS_SMR_INGREDIENTS = frozenset(d.ingredient for d in DRUGS.values() if BEERS_SMR in d.classes)
INGREDIENT_CLASSES: dict[str, frozenset[str]] = {}
for _drug in DRUGS.values():
    INGREDIENT_CLASSES[_drug.ingredient] = INGREDIENT_CLASSES.get(_drug.ingredient, frozenset()) | _drug.classes


def classes_of(ingredient: str) -> frozenset[str]:
    """The clinical classes of an ingredient (union over its products)."""
    return INGREDIENT_CLASSES.get(ingredient, frozenset())


# --- conditions ---------------------------------------------------------------------------------
# Clinical groups the ground truth reasons with.
SPASTICITY = "spasticity"
ACUTE_MSK = "acute-musculoskeletal"
CRAMPS = "cramps"
CIRRHOSIS = "cirrhosis"
HEPATITIS = "hepatitis"  # active hepatitis: with cirrhosis, "active liver disease" (dantrolene)
FATTY_LIVER = "fatty-liver"  # liver disease that is neither active hepatitis nor cirrhosis
CARDIAC_CONTRA = "cardiac-contraindication"  # cyclobenzaprine: arrhythmia, block, conduction, CHF
ACUTE_MI = "acute-mi"  # cyclobenzaprine: acute recovery phase (onset <= 28 days)
OLD_MI = "old-mi"  # not a contraindication
HYPERTHYROID = "hyperthyroidism"
CKD = "ckd"
DIALYSIS = "dialysis"
ALCOHOL_USE = "alcohol-use-disorder"
MUSCLE_SPASM = "muscle-spasm"  # spasm itself (back spasm): with cramps, the chart's electrolyte scope (issue 19)
HEPATIC_DECOMPENSATION = "hepatic-decompensation"  # ascites with cirrhosis...: moderate to severe impairment
ASCITES = "ascites"  # decompensation only beside a liver condition
ADVERSE_EFFECT = "adverse-effect"  # a stop's reason: the drug harmed the patient (issue 19, item 5)


@dataclass(frozen=True, slots=True)
class ConditionKind:
    key: str
    icd10: str
    display: str
    snomed: str | None
    snomed_display: str | None
    groups: frozenset[str]
    ckd_stage: int | None = None  # 3, 4, 5 from the code
    icd_needed: bool = False  # never sent with SNOMED alone (its SNOMED code is not one codes.json lists)


# key | ICD-10-CM | SNOMED CT | groups | flags (stageN, icd-needed) | ICD-10-CM display | SNOMED display
_CONDITION_TABLE = """
ms                   | G35      | 24700007  | spasticity               | -                 | Multiple sclerosis | Multiple sclerosis (disorder)
cp                   | G80.9    | 128188000 | spasticity               | -                 | Cerebral palsy, unspecified | Cerebral palsy (disorder)
cp-spastic-quad      | G80.0    | 128188000 | spasticity               | -                 | Spastic quadriplegic cerebral palsy | Cerebral palsy (disorder)
stroke-hemiplegia    | I69.351  | 442733008 | spasticity               | -                 | Hemiplegia and hemiparesis following cerebral infarction affecting right dominant side | Hemiplegia as late effect of cerebrovascular accident (disorder)
paraplegia           | G82.20   | 60389000  | spasticity               | -                 | Paraplegia, unspecified | Paraplegia (disorder)
sci-cervical         | S14.109S | 90584004  | spasticity               | -                 | Unspecified injury at unspecified level of cervical spinal cord, sequela | Injury of spinal cord (disorder)
tbi                  | S06.2X9S | 127295002 | spasticity               | -                 | Diffuse traumatic brain injury with loss of consciousness of unspecified duration, sequela | Traumatic brain injury (disorder)
low-back-pain        | M54.50   | 279039007 | acute-musculoskeletal    | -                 | Low back pain, unspecified | Low back pain (finding)
back-spasm           | M62.830  | 45352006  | acute-musculoskeletal,muscle-spasm | -       | Muscle spasm of back | Spasm (finding)
lumbar-strain        | S39.012A | -         | acute-musculoskeletal    | -                 | Strain of muscle, fascia and tendon of lower back, initial encounter | -
neck-strain          | S16.1XXA | -         | acute-musculoskeletal    | -                 | Strain of muscle, fascia and tendon at neck level, initial encounter | -
cervicalgia          | M54.2    | -         | acute-musculoskeletal    | -                 | Cervicalgia | -
cramps               | R25.2    | 55300003  | cramps                   | -                 | Cramp and spasm | Cramp (finding)
cirrhosis-alcoholic  | K70.30   | 19943007  | cirrhosis                | -                 | Alcoholic cirrhosis of liver without ascites | Cirrhosis of liver (disorder)
cirrhosis            | K74.60   | 19943007  | cirrhosis                | -                 | Unspecified cirrhosis of liver | Cirrhosis of liver (disorder)
cirrhosis-ascites    | K70.31   | -         | cirrhosis,hepatic-decompensation | -         | Alcoholic cirrhosis of liver with ascites | -
ascites              | R18.8    | 389026000 | ascites                  | icd-needed        | Other ascites | Ascites (disorder)
baclofen-toxicity    | T42.8X5A | -         | adverse-effect           | -                 | Adverse effect of antiparkinsonism drugs and other central muscle-tone depressants, initial encounter | -
toxic-encephalopathy | G92.8    | -         | -                        | -                 | Other toxic encephalopathy | -
alcoholic-hepatitis  | K70.10   | 235875008 | hepatitis                | icd-needed        | Alcoholic hepatitis without ascites | Alcoholic hepatitis (disorder)
hepatitis-c          | B18.2    | 128302006 | hepatitis                | icd-needed        | Chronic viral hepatitis C | Chronic hepatitis C (disorder)
fatty-liver          | K76.0    | 197321007 | fatty-liver              | icd-needed        | Fatty (change of) liver, not elsewhere classified | Steatosis of liver (disorder)
atrial-fibrillation  | I48.91   | 49436004  | cardiac-contraindication | -                 | Unspecified atrial fibrillation | Atrial fibrillation (disorder)
av-block-2           | I44.1    | 233916004 | cardiac-contraindication | -                 | Atrioventricular block, second degree | Heart block (disorder)
lbbb                 | I44.7    | 44808001  | cardiac-contraindication | -                 | Left bundle-branch block, unspecified | Conduction disorder of the heart (disorder)
heart-failure        | I50.9    | 84114007  | cardiac-contraindication | -                 | Heart failure, unspecified | Heart failure (disorder)
chf                  | I50.20   | 42343007  | cardiac-contraindication | -                 | Unspecified systolic (congestive) heart failure | Congestive heart failure (disorder)
nstemi               | I21.4    | 57054005  | acute-mi                 | -                 | Non-ST elevation (NSTEMI) myocardial infarction | Acute myocardial infarction (disorder)
old-mi               | I25.2    | 1755008   | old-mi                   | icd-needed        | Old myocardial infarction | Old myocardial infarction (disorder)
hyperthyroidism      | E05.90   | 34486009  | hyperthyroidism          | -                 | Thyrotoxicosis, unspecified without thyrotoxic crisis or storm | Hyperthyroidism (disorder)
ckd-3a               | N18.31   | 433144002 | ckd                      | stage3,icd-needed | Chronic kidney disease, stage 3a | Chronic kidney disease stage 3
ckd-3b               | N18.32   | 433144002 | ckd                      | stage3,icd-needed | Chronic kidney disease, stage 3b | Chronic kidney disease stage 3
ckd-4                | N18.4    | 431857002 | ckd                      | stage4,icd-needed | Chronic kidney disease, stage 4 (severe) | Chronic kidney disease stage 4
esrd                 | N18.6    | 46177005  | ckd                      | stage5            | End stage renal disease | End-stage renal disease (disorder)
dialysis             | Z99.2    | -         | dialysis                 | -                 | Dependence on renal dialysis | -
alcohol-use-disorder | F10.20   | 7200002   | alcohol-use-disorder     | icd-needed        | Alcohol dependence, uncomplicated | Alcoholism (disorder)
hypertension         | I10      | 38341003  | -                        | -                 | Essential (primary) hypertension | Hypertensive disorder
t2dm                 | E11.9    | 44054006  | -                        | -                 | Type 2 diabetes mellitus without complications | Diabetes mellitus type 2
hyperlipidemia       | E78.5    | 55822004  | -                        | -                 | Hyperlipidemia, unspecified | Hyperlipidemia
hypothyroidism       | E03.9    | 40930008  | -                        | -                 | Hypothyroidism, unspecified | Hypothyroidism
gerd                 | K21.9    | 235595009 | -                        | -                 | Gastro-esophageal reflux disease without esophagitis | Gastroesophageal reflux disease
depression           | F32.A    | 35489007  | -                        | -                 | Depression, unspecified | Depressive disorder
anxiety              | F41.1    | 21897009  | -                        | -                 | Generalized anxiety disorder | Generalized anxiety disorder
insomnia             | G47.00   | 193462001 | -                        | -                 | Insomnia, unspecified | Insomnia
chronic-pain         | G89.29   | 82423001  | -                        | -                 | Other chronic pain | Chronic pain
epilepsy             | G40.909  | 84757009  | -                        | -                 | Epilepsy, unspecified, not intractable, without status epilepticus | Epilepsy
asthma               | J45.909  | 195967001 | -                        | -                 | Unspecified asthma, uncomplicated | Asthma
copd                 | J44.9    | 13645005  | -                        | -                 | Chronic obstructive pulmonary disease, unspecified | Chronic obstructive lung disease
adhd                 | F90.9    | 406506008 | -                        | -                 | Attention-deficit hyperactivity disorder, unspecified type | Attention deficit hyperactivity disorder
migraine             | G43.909  | 37796009  | -                        | -                 | Migraine, unspecified, not intractable, without status migrainosus | Migraine
uti                  | N39.0    | 68566005  | -                        | -                 | Urinary tract infection, site not specified | Urinary tract infectious disease
otitis-media         | H66.90   | 65363002  | -                        | -                 | Otitis media, unspecified, unspecified ear | Otitis media
parkinsons           | G20.A1   | 49049000  | -                        | -                 | Parkinson's disease without dyskinesia, without mention of fluctuations | Parkinson's disease
bph                  | N40.0    | 266569009 | -                        | -                 | Benign prostatic hyperplasia without lower urinary tract symptoms | Benign prostatic hyperplasia
dementia             | F03.90   | 52448006  | -                        | -                 | Unspecified dementia without behavioral disturbance | Dementia
herpes-zoster        | B02.9    | 4740000   | -                        | -                 | Zoster without complications | Herpes zoster
hypokalemia          | E87.6    | 43339004  | -                        | -                 | Hypokalemia | Hypokalemia
hypomagnesemia       | E83.42   | 190855004 | -                        | -                 | Hypomagnesemia | Hypomagnesemia
osteoarthritis-knee  | M17.11   | -         | -                        | -                 | Unilateral primary osteoarthritis, right knee | -
acute-bronchitis     | J20.9    | 10509002  | -                        | -                 | Acute bronchitis, unspecified | Acute bronchitis
"""


def _parse_conditions(table: str) -> dict[str, ConditionKind]:
    out: dict[str, ConditionKind] = {}
    for line in table.strip().splitlines():
        key, icd10, snomed, groups, flags, display, snomed_display = (part.strip() for part in line.split("|"))
        flag_set = set() if flags == "-" else set(flags.split(","))
        stage = next((int(f[len("stage") :]) for f in flag_set if f.startswith("stage")), None)
        out[key] = ConditionKind(
            key=key,
            icd10=icd10,
            display=display,
            snomed=None if snomed == "-" else snomed,
            snomed_display=None if snomed_display == "-" else snomed_display,
            groups=frozenset() if groups == "-" else frozenset(groups.split(",")),
            ckd_stage=stage,
            icd_needed="icd-needed" in flag_set or snomed == "-",
        )
    return out


CONDITIONS: dict[str, ConditionKind] = _parse_conditions(_CONDITION_TABLE)
