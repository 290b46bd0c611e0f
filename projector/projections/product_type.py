"""What kind of product a product is, as the head words of its type ("notebook case" -> "case"): shopper search ranks
the product that *is* what was asked for above accessories that merely mention it (search_api/queries/ranking.py).

English noun phrases put their head last: a "notebook case" is a case, a "TV stand" a stand. The type comes from:
1. the catalogue's own category (Icecat's product type, on few products);
2. the product's title: Icecat titles read "<brand> <model> <type in lower case> <specifications>" ("Lexmark
   08A0476 toner cartridge Original Black"), so the lower-case words right after the model number are the type;
3. else the title's own head: the last word of its first part (before "for", "with", a dash, a bracket or a comma:
   what follows says what the product fits or comes with), leaving out figures and their units, colours, materials,
   the brand and product-line names ("HP 146GB Ultra320 SCSI 15000 rpm Hard Drive" -> "drive", "Lenovo IdeaPad
   S340 Notebook Pink 35.6 cm" -> "notebook").
"""

from __future__ import annotations

import re

from shared.catalogue_keys import UNITS, singular

_WORD = re.compile(r"[^\W\d_]+")
# A type's words in a title: lower case, with the joiners Icecat uses inside types ("power adapter/inverter",
# "label-making tape").
_TYPE_WORD = re.compile(r"[a-z][a-z'/&-]*")
# Coordinated types ("Cases and bags", "Headphones/headset") have a head per member.
_COORDINATION = re.compile(r"\s+(?:and|&)\s+|\s*,\s*")
# Where the first part of a title ends: what follows says what the product fits, comes with or measures.
_TITLE_PART_END = re.compile(r"\s(?:for|with|w/|incl\.?|including|and|&|\+|-|–|—)\s|\.\s|[(,;\[|]", re.IGNORECASE)
# Words that end many titles without saying what the product is: colours, materials and finishes (Icecat titles
# end with them) and "original" (genuine supplies).
_NOT_A_TYPE = frozenset(
    {
        "black", "white", "grey", "gray", "silver", "blue", "red", "green", "yellow", "pink", "purple", "orange",
        "brown", "gold", "beige", "cyan", "magenta", "transparent", "clear", "graphite", "anthracite", "metallic",
        "multicolour", "multicolor", "original", "nylon", "polyester", "leather", "plastic", "metal", "aluminium",
        "aluminum", "steel", "polycarbonate", "neoprene", "fabric", "canvas", "rubber", "silicone", "wood", "glass",
        "matt", "matte", "glossy", "gloss", "satin",
    }
)  # fmt: skip
_CAMEL = re.compile(r"[a-z][A-Z]")  # "AluGear", "SmartFit", "iPad": names of product lines, not types
_FIGURE = re.compile(r"\d")
# Counts that follow a figure in titles ("1 pc(s)", "250 sheets"), besides units of measure.
_MEASURES = UNITS | {"pc", "pcs", "piece", "pieces", "sheet", "sheets", "page", "pages", "pack"}


def heads(phrase: str) -> list[str]:
    """Head words of a type phrase, lower case and singular: the last word of each coordinated member; when the last
    word joins alternatives with "/" ("power adapter/inverter"), each of them."""
    found: list[str] = []
    for member in _COORDINATION.split(phrase.lower()):
        words = member.split()
        if not words:
            continue
        for head in words[-1].split("/"):
            match = _WORD.findall(head)
            if match and (word := singular(match[-1])) not in found:
                found.append(word)
    return found


def title_type(title: str, model: str | None) -> str | None:
    """The lower-case words that follow the model number in an Icecat title, if there are any."""
    if not model:
        return None
    at = title.lower().find(model.lower())
    if at < 0:
        return None
    words = []
    for word in title[at + len(model) :].split():
        if not _TYPE_WORD.fullmatch(word):
            break
        words.append(word)
    return " ".join(words) or None


def title_head(title: str, brand: str | None) -> str | None:
    """The head word of the title's first part (see the module's doc), if it has one."""
    first = _TITLE_PART_END.split(f" {title} ", maxsplit=1)[0].split()
    skip = _NOT_A_TYPE | {w.lower() for w in (brand or "").split()}
    for i in range(len(first) - 1, -1, -1):
        word, before = first[i], first[i - 1] if i else ""
        if _FIGURE.search(word) or (_FIGURE.search(before) and word.lower() in _MEASURES):
            continue  # a figure, or its unit ("35.6 cm", "1200 DPI", "1 pc")
        if len(word) < 2 or not _WORD.fullmatch(word) or _CAMEL.search(word) or word.lower() in skip:
            continue
        return singular(word.lower())
    return None


def type_heads(title: str, brand: str | None, model: str | None, catalogue_category: str | None) -> list[str]:
    """The head words of the product's type, from the most precise source that has one (see the module's doc)."""
    for phrase in (catalogue_category, title_type(title, model)):
        if phrase and (found := heads(phrase)):
            return found
    head = title_head(title, brand)
    return [head] if head else []
