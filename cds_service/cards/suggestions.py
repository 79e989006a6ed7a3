"""Order suggestions that every client applies to the same result (issue 20).

Clients apply an `update` differently: an EHR may take the whole resource; the CDS Hooks sandbox
(and several EHRs) take only the suggested medication and keep the sig the prescriber typed. A
suggestion whose dose lives in its sig ("5 mg three times a day" on the 10 mg tablet) changes
nothing in such a client, while the card records an acceptance. So a dose change here is a product
switch: the product whose one tablet, taken as the order's own sig says (1 tablet three times a
day), gives the dose. Applied whole or as the medication alone, the order ends at that dose, and
its quantity and days' supply stay right. Where no product does that (a sig in milligrams, two
tablets twice a day that no strength turns into the dose), there is no one-click dose: the card
says which product and sig to order instead.

A supply limit cannot be a product switch: it lives in the dispense request, which such a client
keeps. How a client applies suggestions is therefore a per-client capability (`suggestions` in the
clients file, decided at the edge and passed to the engine as plain data): for a `whole-resource`
client the limit is a complete replacement order (sig kept, quantity and days' supply to match); for
a `medication-only` client (the default: the sandbox, --dev, any client not known to do better) it is
no button but a line saying what to enter (`for_client`). A rule builds both; it never asks which.

Every suggestion carries its `intent` (the order, the daily dose and supply it leads to): the
audit keeps it, so the service can tell at signing whether an accepted suggestion was applied.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import PrivateAttr

from cds_service.cards.text import fmt_mg, fmt_number, main_name
from cds_service.cdshooks import Action, Card, Suggestion
from cds_service.facts.judgment import DoseJudgment
from cds_service.facts.model import MedicationFact, above
from cds_service.facts.orders import UnitSig, single_unit_product, unit_sig, with_product, with_supply_days

SuggestionStyle = Literal["medication-only", "whole-resource"]
MEDICATION_ONLY: SuggestionStyle = "medication-only"  # applies `medicationCodeableConcept` alone (the sandbox)
WHOLE_RESOURCE: SuggestionStyle = "whole-resource"  # replaces the draft with the action's resource
SUGGESTION_STYLES: tuple[SuggestionStyle, ...] = (MEDICATION_ONLY, WHOLE_RESOURCE)

_FREQUENCY_WORDS = {1: "once a day", 2: "twice a day", 3: "three times a day", 4: "four times a day"}
_SPLITS = (3, 2, 4, 1)  # doses a day tried for a regimen, three first (the labels' usual split)


@dataclass(frozen=True, slots=True)
class Intent:
    """What applying a suggestion leads to, for the order it changes (None: left as it was)."""

    order: str  # the draft's reference
    mg_per_day: float | None = None
    supply_days: float | None = None
    rxcui: str | None = None
    remove: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "mg_per_day": self.mg_per_day,
            "supply_days": self.supply_days,
            "rxcui": self.rxcui,
            "remove": self.remove,
        }


class OrderSuggestion(Suggestion):
    """A suggestion about one draft order, with its `intent` (not serialized).

    `by_hand`, when set, says the suggestion reaches its intent only when the whole resource is
    applied, and what to enter on the order instead where the client applies the medication alone."""

    _intent: Intent | None = PrivateAttr(default=None)
    _by_hand: str | None = PrivateAttr(default=None)

    @property
    def intent(self) -> Intent | None:
        return self._intent

    @property
    def by_hand(self) -> str | None:
        return self._by_hand


def _with_intent(label: str, action: Action, intent: Intent) -> OrderSuggestion:
    made = OrderSuggestion(label=label, isRecommended=True, actions=[action])
    made._intent = intent
    return made


@dataclass(frozen=True, slots=True)
class DoseAdvice:
    """A dose change for one draft: a one-click suggestion, or (None) what to order by hand."""

    suggestion: OrderSuggestion | None
    instruction: str  # the sentence for the detail when there is no button ("" when there is one)


def frequency_words(doses_per_day: int) -> str:
    return _FREQUENCY_WORDS.get(doses_per_day, f"{doses_per_day} times a day")


def _sig_words(sig: UnitSig) -> str:
    unit = sig.unit if sig.units_per_dose == 1 else sig.unit + "s"
    return f"{sig.units_per_dose} {unit} {frequency_words(sig.doses_per_day)}"


def _product_words(draft: MedicationFact, strength_mg: float, unit: str = "tablet") -> str:
    return f"{main_name(draft)} {fmt_mg(strength_mg)} {unit}"


def regimen_text(draft: MedicationFact, mg_per_day: float) -> str:
    """'baclofen 5 mg tablet, 1 three times a day' for `mg_per_day`, in whole tablets of a product
    that exists; or 'X mg/day' alone when no product gives it."""
    for count in _SPLITS:
        per_dose = mg_per_day / count
        for units in (1, 2, 3):
            product = single_unit_product(draft, per_dose / units)
            if product is not None:
                return f"{_product_words(draft, per_dose / units)}, {units} {frequency_words(count)}"
    return f"{fmt_mg(mg_per_day)}/day"


def dose_change(
    draft: MedicationFact,
    mg_per_day: float,
    *,
    others: float = 0.0,
    verb: str = "Change to",
    judgment: DoseJudgment | None = None,
    previous: float | None = None,
) -> DoseAdvice:
    """Bring the draft to `mg_per_day` (the total with `others`, the other orders' daily dose, is
    the caller's target): a product switch that keeps the sig, a removal when the other orders
    already give the target, or an instruction. A dose the order's `judgment` (issue 19) does not
    allow is never offered, as a button or as words: the card says why and what to consider."""
    name = main_name(draft)
    if judgment is not None and above(mg_per_day, 0.0) and not judgment.allows(mg_per_day, previous):
        why = judgment.no_dose_reason or f"{fmt_mg(mg_per_day)}/day is outside what the label allows here"
        consider = f" {judgment.consider.rstrip('.')}." if judgment.consider else ""
        return DoseAdvice(None, f"No dose to suggest: {why}.{consider}")
    if not above(mg_per_day, 0.0):
        label = f"Remove this {name} order (other orders already give {fmt_mg(others)}/day)"
        action = Action(type="delete", description=label, resourceId=[draft.reference])
        return DoseAdvice(_with_intent(label, action, Intent(draft.reference, remove=True)), "")
    target = f"{fmt_mg(mg_per_day)}/day"
    sig = unit_sig(draft)
    if sig is None:
        return DoseAdvice(None, f"Change the order by hand to {regimen_text(draft, mg_per_day)} ({target}).")
    strength = mg_per_day / sig.units_per_day
    product = single_unit_product(draft, strength)
    if product is None or (draft.rxnorm_code and product.rxcui == draft.rxnorm_code):
        return DoseAdvice(
            None,
            f"No {name} product gives {target} as ordered ({_sig_words(sig)}): change the order by hand to "
            f"{regimen_text(draft, mg_per_day)}.",
        )
    how_often = frequency_words(sig.doses_per_day)
    label = f"{verb} {_product_words(draft, strength, sig.unit)}, {sig.units_per_dose} {how_often} ({target})"
    resource = with_product(draft, product)
    action = Action(type="update", description=f"{label} on the draft {name} order", resource=resource)
    intent = Intent(draft.reference, mg_per_day=mg_per_day, supply_days=draft.supply.days, rxcui=product.rxcui)
    return DoseAdvice(_with_intent(label, action, intent), "")


def supply_limit(order: MedicationFact, days: int, reason: str) -> OrderSuggestion:
    """The whole order again with its supply limited to `days` (quantity to match, no refills), and
    the same as words to enter, for a client that would keep its own supply (`by_hand`)."""
    label = f"Limit the supply to {days} days"
    resource = with_supply_days(order, days)
    action = Action(type="update", description=f"{label} {reason}", resource=resource)
    intent = Intent(order.reference, mg_per_day=order.daily_dose.mg_per_day, supply_days=float(days),
                    rxcui=order.rxnorm_code)  # fmt: skip
    made = _with_intent(label, action, intent)
    quantity = (resource.get("dispenseRequest") or {}).get("quantity")
    count = f", quantity **{_count_words(quantity['value'], quantity['unit'])}**" if quantity else ""
    made._by_hand = f"To limit it, enter on the order: days' supply **{days}**{count}, no refills."
    return made


def _count_words(value: float, unit: str) -> str:
    """'21 tablets', '1 tablet', '150 mL'."""
    plural = value != 1 and unit.isalpha() and unit.islower() and not unit.endswith("s")
    return f"{fmt_number(value, 0)} {unit}{'s' if plural else ''}"


def for_client(card: Card, style: SuggestionStyle) -> Card:
    """`card` as a client of `style` can act on it: for a medication-only client, a suggestion that
    needs the whole resource (a supply limit) is no button, which would be recorded as accepted and
    change nothing, but a line saying what to enter."""
    if style == WHOLE_RESOURCE or not card.suggestions:
        return card
    by_hand = [s for s in card.suggestions if isinstance(s, OrderSuggestion) and s.by_hand]
    if not by_hand:
        return card
    kept = [s for s in card.suggestions if not (isinstance(s, OrderSuggestion) and s.by_hand)]
    lines = [s.by_hand for s in by_hand if s.by_hand]
    card.detail = "\n\n".join([card.detail or "", *lines]) if card.detail else "\n\n".join(lines)
    card.suggestions = kept or None
    if not kept:
        card.selectionBehavior = None
    return card


def removal(order: MedicationFact, reason: str, *, recommended: bool = True) -> OrderSuggestion:
    """One-click removal of a draft order (CDS Hooks 2.0 delete with a resourceId list)."""
    label = f"Remove the draft {main_name(order)} order"
    action = Action(type="delete", description=f"{label}: {reason}", resourceId=[order.reference])
    made = _with_intent(label, action, Intent(order.reference, remove=True))
    made.isRecommended = recommended
    return made


def supply_words(days: float | None) -> str:
    return f"{fmt_number(days, 1)} days" if days is not None else "an unknown supply"
