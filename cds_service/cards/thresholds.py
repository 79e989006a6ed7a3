"""Every clinical threshold, stated once, with the guideline statement or label it comes from.

Rules import their numbers from here; the scenario matrix and the guideline pages quote them.
Each constant's comment names its source (guideline statement id, FDA label, Beers 2023,
StatPearls).
"""

from __future__ import annotations
