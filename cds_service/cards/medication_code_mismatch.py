"""An order whose RxNorm code and name disagree (guideline S23: assess for interactions).

Every check of this service reads the drug from the order's RxNorm code. When the code names one
drug and the order's text or display another (seen in the sandbox's own test data: code 197446,
carisoprodol, displayed as "Baclofen 10 MG Oral Tablet"), the clinician sees one drug and the checks
judge another; neither can be trusted until the order is corrected. Warning on order hooks for the
orders in scope, and on patient-view for active orders. Only drugs this service knows are compared,
so an unrelated drug with a free-text note never fires.
"""

from __future__ import annotations

from cds_service.cards.base import NOT_APPLICABLE, SUMMARY_MAX, Rule, make_card
from cds_service.cards.scope import subject_medications
from cds_service.cards.text import describe_order, escape_md, quote
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, Card
from cds_service.facts.model import PatientFacts

_OVERRIDES = (NOT_APPLICABLE,)


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    cards: list[Card] = []
    for order in subject_medications(facts):
        if not order.name_conflict:
            continue
        coded = "/".join(order.ingredients)
        named = "/".join(order.name_conflict)
        summary = f"Verify the drug: order named {named} is coded as {coded} (RxNorm {order.rxnorm_code})"
        if len(summary) > SUMMARY_MAX:
            summary = f"Verify the drug: this order's name and RxNorm code {order.rxnorm_code} disagree"
        detail = "\n\n".join(
            [
                f"{describe_order(order)}: its RxNorm code **{escape_md(order.rxnorm_code or '')}** is "
                f"**{quote(coded)}**, its name says **{quote(named)}**.",
                f"The checks used the code; any check for {quote(named)} did **not** run. Correct the "
                "order so that code and name agree.",
            ]
        )
        cards.append(
            make_card(
                RULE,
                summary=summary,
                indicator="warning",
                detail=detail,
                overrides=_OVERRIDES,
                about=(order,),
                drugs=(*order.ingredients, *order.name_conflict),
                basis=(order.rxnorm_code, order.name_conflict),
            )
        )
    return cards


_REASONING = "\n\n".join(
    (
        (
            "Every check reads the drug from the order's RxNorm code. When the code names one drug and the "
            "order's text another (the sandbox's own test data sends carisoprodol, RxNorm 197446, displayed as a "
            "baclofen tablet), the clinician sees one drug and the checks judge another: neither can be trusted "
            "until the order is corrected. Only drugs this service knows are compared, so an unrelated free-text "
            "note never fires. It fires for the orders in scope and, on chart opening, for a current order: the "
            "order needs correcting now."
        ),
    )
)


RULE = Rule(
    topic="medication-code-mismatch",
    title="Order coded as another drug",
    statements=("S23",),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "An order whose RxNorm code names one drug and whose text or display names another: the checks "
        "follow the code, so the clinician is told which drug was checked and which was not."
    ),
    overrides=_OVERRIDES,
)
