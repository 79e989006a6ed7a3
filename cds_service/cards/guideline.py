"""The source guideline, statement by statement, with what the labels say where it says less.

Text is verbatim from `shared/guideline/muscle-spasm-treatment.txt` (a treatment summary, not a
society guideline). Ids S1-S23 follow the statement check in `shared/reference/clinical-facts.md`
§1.2; A1-A5 are the lines of its "Treatment Algorithm" section. Cards cite these ids and the service
serves each at `/guideline/<topic>`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of the source guideline, with what the labels say beside it."""

    id: str  # "S1" ... (numbering of shared/reference/clinical-facts.md §1.2)
    text: str  # the guideline's words, verbatim
    section: str  # the guideline section it sits in
    source_refs: str  # the guideline's own reference numbers, e.g. "1" or "2, 1"
    label_note: str = ""  # what the drug label / Beers says where the summary says less
    out_of_scope: str = ""  # why no rule applies this statement (shown in the scenario matrix)
    applies_to: str = ""  # the indication the statement's advice comes from (scenario matrix); "" = any


# What each statement applies to: the source's plans apply to the indication they come from.
APPLIES_TO = {
    "S1": "cramps in liver disease (EASL 2018); others: the FDA label",
    "S2": "cramps in liver disease; others: the FDA label",
    "A1": "cramps in liver disease (EASL 2018); others: the FDA label",
    "S3": "acute musculoskeletal spasm",
    "S4": "spasticity",
    "S5": "spasticity (upper motor neuron)",
    "S8": "spasm (benzodiazepine ordered for it)",
    "S9": "cramps in cirrhosis",
    "S10": "spasticity",
    "S11": "focal spasticity",
    "S16": "on a relaxant, or cramps",
    "A5": "on a relaxant, or cramps",
    "S17": "by indication: spasticity, cramps, musculoskeletal spasm",
    "A3": "focal spasticity",
    "A4": "generalized spasticity",
    "S19": "any baclofen titration",
    "S20": "any baclofen",
    "S21": "any cyclobenzaprine",
    "S22": "65 and older (Beers drugs); children below the label age",
    "S23": "a combination with a relaxant",
}


SOURCE_TITLE = "Treatment Options for Severe Muscle Spasms (treatment summary)"
SOURCE_CAVEAT = (
    "This service encodes a treatment summary, not a society guideline. Each statement below was "
    "checked against FDA labeling and AGS Beers 2023; where the label says more, cards say what "
    "the label says."
)

_INTRO = "Treatment Options for Severe Muscle Spasms"
_FIRST = "First-Line Pharmacological Options"
_SECOND = "Second-Line Pharmacological Options"
_ADVANCED = "Advanced Treatment Options for Refractory Cases"
_NONPHARM = "Non-Pharmacological Approaches"
_ALGO = "Treatment Algorithm"
_CAUTIONS = "Important Considerations and Cautions"

_ALL: tuple[Statement, ...] = (
    Statement(
        "S1",
        "Baclofen is the first-line pharmacological treatment for severe muscle spasms, starting at "
        "10 mg/day with weekly increases of 10 mg/day up to 30 mg/day.",
        _INTRO,
        "1",
        "FDA label (spasticity): 5 mg TID, increased every 3 days; total should not exceed 80 mg/day. "
        "The 10 → 30 mg/day plan matches the muscle-cramp regimen used in cirrhosis.",
    ),
    Statement(
        "S2",
        "Baclofen (10-30 mg/day) is the most effective medication for severe muscle spasms, with gradual "
        "dose titration to minimize side effects.",
        _FIRST,
        "1",
        "Comparative trials have not shown one muscle relaxant to be superior.",
    ),
    Statement(
        "S3",
        "Cyclobenzaprine is indicated as an adjunct to rest and physical therapy for relief of muscle spasm "
        "associated with acute, painful musculoskeletal conditions, but should only be used for short "
        "periods (up to 2-3 weeks).",
        _FIRST,
        "2",
        "FDA label: use only for short periods (up to two or three weeks); not effective in spasticity of "
        "cerebral or spinal origin.",
    ),
    Statement(
        "S4",
        "Tizanidine is an alternative first-line agent for spasticity of cerebral origin.",
        _FIRST,
        "1",
        "FDA label: contraindicated with fluvoxamine or ciprofloxacin (potent CYP1A2 inhibitors); "
        "hypotension, liver injury, sedation.",
    ),
    Statement(
        "S5",
        "Dantrolene may be considered for severe spastic hemiplegia.",
        _FIRST,
        "1, 3",
        "Boxed warning: hepatotoxicity (fatal and non-fatal hepatitis); contraindicated in active hepatic "
        "disease. The label's indication is spasticity from upper-motor-neuron disorders.",
    ),
    Statement(
        "S6",
        "Methocarbamol can be used for muscle spasms when first-line agents are ineffective or not tolerated.",
        _SECOND,
        "1",
        "AGS Beers 2023: avoid in adults 65 and older.",
        out_of_scope=(
            "A treatment option (methocarbamol when first-line agents fail); whether they failed is not in "
            "structured data. Its Beers 2023 'avoid at 65+' caveat is applied by elderly-caution."
        ),
    ),
    Statement(
        "S7",
        "Orphenadrine may be considered as an alternative muscle relaxant.",
        _SECOND,
        "1",
        "AGS Beers 2023: avoid in adults 65 and older (strongly anticholinergic).",
        out_of_scope=(
            "A treatment option (orphenadrine as an alternative); nothing to check at ordering. Its Beers "
            "2023 'avoid at 65+' caveat is applied by elderly-caution."
        ),
    ),
    Statement(
        "S8",
        "Benzodiazepines may be justified for management of muscle spasm, especially when anxiety and muscle "
        "spasm coexist, but carry a high risk profile in older adults.",
        _SECOND,
        "1",
        "Boxed warning: concomitant opioids (profound sedation, respiratory depression, death); abuse, "
        "dependence, withdrawal. AGS Beers 2023: avoid in adults 65 and older.",
    ),
    Statement(
        "S9",
        "Albumin infusion (20-40 g/week) may be beneficial for muscle cramps, particularly in patients with "
        "liver disease.",
        _SECOND,
        "1",
        "Evidence is from cirrhosis (EASL 2018); none outside liver disease.",
    ),
    Statement(
        "S10",
        "Intrathecal baclofen via surgically implanted pump is recommended for severe spastic hypertonia that "
        "does not respond to oral medications.",
        _ADVANCED,
        "1, 4, 5",
    ),
    Statement(
        "S11",
        "Botulinum toxin injections are recommended for localized muscle spasms in upper or lower limbs to "
        "improve range of motion and function.",
        _ADVANCED,
        "1",
        "The evidence is for focal spasticity.",
    ),
    Statement(
        "S12",
        "Phenol injections may be used to target specific muscles or muscle groups.",
        _ADVANCED,
        "1",
        out_of_scope=(
            "Phenol injections are procedures; the service reads medication orders, labs and conditions, not"
            " procedure orders."
        ),
    ),
    Statement(
        "S13",
        "Physical therapy including range-of-motion exercises should be combined with pharmacological treatment.",
        _NONPHARM,
        "1",
        out_of_scope=(
            "A reminder with nothing to check at ordering; the chart-opening summary card that repeated it "
            "was removed (issue 12: a card a prescriber does not act on is noise)."
        ),
    ),
    Statement(
        "S14",
        "Heat, cold, and electrical stimulation may help reduce muscle spasms.",
        _NONPHARM,
        "1",
        out_of_scope=("Heat, cold and electrical stimulation are non-drug measures with nothing to check at ordering."),
    ),
    Statement(
        "S15",
        "Splinting may be considered but should be used cautiously as it can potentially worsen symptoms in "
        "some cases.",
        _NONPHARM,
        "1",
        out_of_scope=(
            "Splinting is not ordered as a medication, and the 'may worsen symptoms' claim has no source "
            "behind it (clinical-facts §1.2); the service stays silent rather than repeat it."
        ),
    ),
    Statement(
        "S16",
        "Correction of electrolyte abnormalities (especially hypokalemia and hypomagnesemia) is essential when "
        "present.",
        _NONPHARM,
        "1",
        "Magnesium must be replaced before hypokalaemia will correct.",
    ),
    Statement(
        "A1",
        "Start with baclofen 10 mg/day, with weekly increases of 10 mg/day up to 30 mg/day.",
        _ALGO,
        "1",
        "FDA label maximum: 80 mg/day.",
    ),
    Statement(
        "S17",
        "If inadequate response after 2-3 weeks, add or switch to cyclobenzaprine (for acute musculoskeletal "
        "spasms) or tizanidine (for spasticity of cerebral origin).",
        _ALGO,
        "2, 1",
        "Baclofen is not indicated for spasm from rheumatic disorders, and cyclobenzaprine is not effective "
        "in spasticity: choose the agent by the condition. Adding an agent stacks CNS depressants.",
    ),
    Statement(
        "A3",
        "For localized spasms, consider targeted botulinum toxin injections.",
        _ALGO,
        "1",
    ),
    Statement(
        "A4",
        "For severe, refractory, generalized spasticity, consider intrathecal baclofen therapy.",
        _ALGO,
        "4, 5",
    ),
    Statement(
        "A5",
        "Throughout treatment, incorporate physical therapy and address any underlying electrolyte abnormalities.",
        _ALGO,
        "1",
    ),
    Statement(
        "S18",
        "Monitor for common side effects of muscle relaxants including sedation, dizziness, and weakness.",
        _CAUTIONS,
        "3",
    ),
    Statement(
        "S19",
        "Baclofen has a long half-life; allow at least 72 hours between dose increases to assess full effect.",
        _CAUTIONS,
        "1",
        "Baclofen's half-life is in fact short (about 2.5-4 h); the label steps the dose every 3 days, "
        "consistent with ≥ 72 h between increases.",
    ),
    Statement(
        "S20",
        "Abrupt discontinuation of baclofen can cause severe withdrawal symptoms and should be avoided.",
        _CAUTIONS,
        "5",
        "Oral label: hallucinations and seizures on abrupt withdrawal; reduce slowly. Intrathecal boxed "
        "warning: high fever, altered mental status, rebound spasticity, rhabdomyolysis, death.",
    ),
    Statement(
        "S21",
        "Cyclobenzaprine is structurally similar to tricyclic antidepressants and should be used with caution "
        "in patients with cardiac conditions.",
        _CAUTIONS,
        "1, 2",
        "FDA label: contraindicated in arrhythmias, heart block or conduction disturbances, congestive heart "
        "failure, the acute recovery phase of myocardial infarction, hyperthyroidism, and with or within "
        "14 days of an MAOI.",
    ),
    Statement(
        "S22",
        "Elderly patients generally require lower doses of muscle relaxants due to increased risk of side effects.",
        _CAUTIONS,
        "1",
        "AGS Beers 2023: avoid carisoprodol, chlorzoxazone, cyclobenzaprine, metaxalone, methocarbamol and "
        "orphenadrine (strong); avoid benzodiazepines; avoid baclofen at eGFR < 60.",
    ),
    Statement(
        "S23",
        "Always assess for drug interactions, particularly when combining multiple serotonergic medications "
        "which can lead to serotonin syndrome.",
        _CAUTIONS,
        "6",
        "Cyclobenzaprine label (2013): serotonin syndrome with SSRIs, SNRIs, TCAs, tramadol, bupropion, "
        "meperidine, verapamil and MAOIs.",
    ),
)

STATEMENTS: dict[str, Statement] = {
    s.id: Statement(s.id, s.text, s.section, s.source_refs, s.label_note, s.out_of_scope, APPLIES_TO.get(s.id, "any"))
    for s in _ALL
}
