"""Sizes and capacities written together or apart: "500gb" and "500 GB", "1tb" and "1 TB".

The index's tokenizer keeps "500GB" as one word and "500 GB" as two, and the catalogue writes both ("1TB SATA
7200rpm", "1000 GB"), so a shopper's "500gb" would miss every product that says "500 GB" and the other way round.
The text is therefore also searched written the other way (search_api/queries/ranking.py, as another wording).
Only units of measure are joined or split: "iphone 8 plus" is not "iphone 8plus".
"""

from __future__ import annotations

import re

from shared.catalogue_keys import UNITS

_NUMBER = r"\d+(?:[.,]\d+)?"
_TOGETHER = re.compile(rf"^({_NUMBER})([a-z]+)$")
_NUMBER_ONLY = re.compile(rf"^{_NUMBER}$")


def _other_way(words: list[str]) -> list[str] | None:
    """The words with each quantity written the other way ("500gb" -> "500 gb", "500 gb" -> "500gb"), or None if
    there is none."""
    out: list[str] = []
    changed = False
    i = 0
    while i < len(words):
        word = words[i]
        together = _TOGETHER.match(word)
        if together and together.group(2) in UNITS:
            out += [together.group(1), together.group(2)]
            changed = True
        elif _NUMBER_ONLY.match(word) and i + 1 < len(words) and words[i + 1] in UNITS:
            out.append(word + words[i + 1])
            changed = True
            i += 1
        else:
            out.append(word)
        i += 1
    return out if changed else None


def quantity_wordings(text: str) -> list[str]:
    """The text with its quantities written the other way, if it has any (lower case)."""
    other = _other_way(text.lower().split())
    return [" ".join(other)] if other else []
