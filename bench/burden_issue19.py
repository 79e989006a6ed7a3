"""Issue 19's situations for the alert-burden population (weights per 1,000 patients, like `SITUATIONS`).

- a benzodiazepine ordered for back spasm (reasonCode) at 65 or older on an as-needed opioid: Beers 2023
  (elderly-caution, warning) and the boxed warning (sedation-risk, critical: the order starts it) (item 6);
- cyclobenzaprine with cirrhosis: immediate release or Amrix, compensated or with ascites (item 7);
- mildly low potassium and/or magnesium on chart opening, for a patient on a relaxant or with back
  spasm, sometimes with a supplement started after the result (item 10);
- IV dantrolene for malignant hyperthermia: no oral-maximum card (`forbidden_topics`) (item 1);
- a baclofen titration at eGFR < 30: a critical renal card and no one-click dose (item 2);
- baclofen stopped after a few days for toxicity (T42.8X5A, encephalopathy, on hemodialysis): no taper
  dose (item 5).

The last three are expectations on the per-order dose judgment (another branch); `alert_burden` reports
each expectation that fails. The clinical ground truth of all six is `burden_truth.assess`.
"""

from __future__ import annotations

from bench.burden_population import (
    PatientBuilder,
    Situation,
    _age,
    add_cirrhosis,
    add_ckd,
    background,
    baclofen,
    baclofen_draft,
    msk,
    relaxant_for_labs,
    spasticity,
)


def elderly_benzodiazepine_for_spasm(b: PatientBuilder) -> None:
    rng = b.rng
    b.set_age(65, 90)
    b.locked |= {"benzodiazepine", "opioid"}
    b.cond("back-spasm", onset=rng.randint(2, 30))
    b.chronic(rng.choice(["oxycodone-5", "hydrocodone-apap", "tramadol-50"]), None, 4, prn=True)
    background(b)
    b.draft("diazepam-5", None, rng.choice([2, 3]), supply=rng.choice([5, 7, 10]), reason="back-spasm")


def cyclobenzaprine_cirrhosis(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 35, 64)
    msk(b)
    if rng.random() < 0.5:
        b.cond("cirrhosis-ascites", onset=rng.randint(100, 2000))
    elif rng.random() < 0.3:
        b.cond("cirrhosis", onset=rng.randint(100, 2000))
        b.cond("ascites", onset=rng.randint(10, 300))
    add_cirrhosis(b)
    background(b)
    if rng.random() < 0.5:
        b.draft("cyclobenzaprine-er-15", 15, 1, supply=rng.choice([10, 14]))
    else:
        key, dose, per_day = rng.choice([("cyclobenzaprine-5", 5, 3), ("cyclobenzaprine-10", 10, 3)])
        b.draft(key, dose, per_day, supply=rng.choice([7, 10]))


def mild_low_electrolytes_on_chart(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 25, 85, elderly_share=0.3)
    if rng.random() < 0.75:
        relaxant_for_labs(b)
    else:
        b.cond("back-spasm", onset=rng.randint(3, 60))
    b.locked |= {"potassium", "magnesium"}
    which = rng.choice(["both", "both", "potassium", "magnesium"])
    days = rng.randint(0, 20)
    if which in ("both", "potassium"):
        b.potassium(rng.uniform(3.05, 3.45), days)
    if which in ("both", "magnesium"):
        b.magnesium(rng.uniform(0.61, 0.68), days)
    if rng.random() < 0.25:  # treated since the result
        if which != "magnesium":
            b.course("kcl-20", 20, 2, started=max(days - 1, 0), supply=30)
        if which != "potassium":
            b.course("mg-oxide-400", 400, 1, started=max(days - 1, 0), supply=30)
    background(b)


def iv_dantrolene_malignant_hyperthermia(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 18, 70)
    background(b)
    dose = rng.choice([150, 175, 200, 250])  # 2.5 mg/kg, repeated: a cumulative 10 mg/kg is within the label
    b.draft("dantrolene-iv-20", dose, rng.choice([4, 6]), supply=1)
    b.forbidden_topics.add("max-daily-dose")


def baclofen_titration_at_egfr_below_30(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 40, 85, elderly_share=0.5)
    spasticity(b)
    add_ckd(b, "4")
    background(b)
    baclofen_draft(b, rng.choice([15, 30]))
    b.no_dose_suggestion = True


def baclofen_toxic_stop(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 45, 85, elderly_share=0.5)
    spasticity(b)
    add_ckd(b, "5")  # on hemodialysis
    b.cond("toxic-encephalopathy", onset=rng.randint(0, 2))
    b.cond("baclofen-toxicity", onset=rng.randint(0, 2))
    daily = rng.choice([30, 40, 60])
    current = baclofen(b, daily, since=rng.randint(3, 6), current_start=rng.randint(3, 6))
    background(b)
    b.stop(current, reason="baclofen-toxicity")
    b.no_dose_suggestion = True
    b.forbidden_phrases.add("Taper")  # "Taper: next 20 mg/day" tells to keep giving the poison


ISSUE19_SITUATIONS: tuple[tuple[str, str, float, Situation], ...] = (
    ("elderly-benzodiazepine-for-spasm-on-opioid", "interaction", 3, elderly_benzodiazepine_for_spasm),
    ("cyclobenzaprine-cirrhosis", "interaction", 3, cyclobenzaprine_cirrhosis),
    ("mild-low-potassium-magnesium-chart", "kidney-age-labs", 4, mild_low_electrolytes_on_chart),
    ("iv-dantrolene-malignant-hyperthermia", "start", 4, iv_dantrolene_malignant_hyperthermia),
    ("baclofen-titration-egfr-below-30", "kidney-age-labs", 4, baclofen_titration_at_egfr_below_30),
    ("baclofen-toxic-stop", "change", 4, baclofen_toxic_stop),
)
