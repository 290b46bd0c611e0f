"""What kind of product a product is, as the head words of its type ("notebook case" -> "case"): shopper search ranks
the product that *is* what was asked for above accessories that merely mention it (search_api/queries/ranking.py).

English noun phrases put their head last: a "notebook case" is a case, a "TV stand" a stand. The type comes from:
1. the catalogue's own category (Icecat's product type, on few products);
2. the product's title: Icecat titles read "<brand> <model> <type in lower case> <specifications>" ("Lexmark
   08A0476 toner cartridge Original Black"), so the lower-case words right after the model number are the type;
3. else the title's own head: the last word of its first part (before "for", "with", a dash, a bracket or a comma:
   what follows says what the product fits or comes with), leaving out figures and their units, colours, materials,
   the brand and product-line names ("HP 146GB Ultra320 SCSI 15000 rpm Hard Drive" -> "drive", "Lenovo IdeaPad
   S340 Notebook Pink 35.6 cm" -> "notebook", "V7 Battery for select IBM/LENOVO laptops" -> "battery").
Heads are folded to the singular the way the search API folds the text's head (shared/type_words.py).
"""

from __future__ import annotations

import re

from shared.type_words import singular

_WORD = re.compile(r"[^\W\d_]+")
# A type's words in a title: lower case, with the joiners Icecat uses inside types ("power adapter/inverter",
# "label-making tape").
_TYPE_WORD = re.compile(r"[a-z][a-z'/&-]*")
# Coordinated types ("Cases and bags", "Headphones/headset") have a head per member.
_COORDINATION = re.compile(r"\s+(?:and|&)\s+|\s*,\s*")
# Where the first part of a title ends: what follows says what the product fits, comes with or measures.
_TITLE_PART_END = re.compile(r"\s(?:for|with|w/|incl\.?|including|\+|-|–|—)\s|\.\s|[(,;\[|]", re.IGNORECASE)
# Words that end many titles without saying what the product is: colours, materials, finishes, connector genders
# and print colour (Icecat titles end with them), "original" (genuine supplies), and short function words.
_NOT_A_TYPE = frozenset(
    {
        "black", "white", "grey", "gray", "silver", "blue", "red", "green", "yellow", "pink", "purple", "orange",
        "brown", "gold", "beige", "cyan", "magenta", "transparent", "clear", "graphite", "anthracite", "metallic",
        "multicolour", "multicolor", "original", "nylon", "polyester", "leather", "plastic", "metal", "aluminium",
        "aluminum", "steel", "polycarbonate", "neoprene", "fabric", "canvas", "rubber", "silicone", "wood", "glass",
        "matt", "matte", "glossy", "gloss", "satin", "male", "female", "colour", "color", "mono",
        "to", "of", "in", "on", "at", "by", "from", "the", "an", "or", "and",
    }
)  # fmt: skip
_ACRONYM = re.compile(r"[A-Z]{2,5}")  # "USB", "DVD" inside a type
_CAMEL = re.compile(r"[a-z][A-Z]")  # "AluGear", "SmartFit", "iPad": names of product lines, not types
_FIGURE = re.compile(r"\d")
_TRIM = "-–—:;.,!?'\"™®©*"  # around a title's words ("Roller-", "Riser™")
# Units of measure and counts that follow a figure in titles ("35.6 cm", "1 pc(s)", "250 sheets").
_MEASURES = frozenset(
    {
        "kb", "mb", "gb", "tb", "mhz", "ghz", "hz", "mbps", "gbps", "mbit", "gbit", "mm", "cm", "m", "in", "inch",
        "ft", "g", "kg", "ml", "l", "w", "kw", "v", "mah", "wh", "va", "kva", "mp", "dpi", "ppm", "rpm",
        "pc", "pcs", "piece", "pieces", "sheet", "sheets", "page", "pages", "pack",
    }
)  # fmt: skip


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
    """The words of the type that follow the model number in an Icecat title: lower case, or acronyms within them
    ("USB flash drive"), if there are any."""
    if not model:
        return None
    at = title.lower().find(model.lower())
    if at < 0:
        return None
    words = []
    for word in title[at + len(model) :].split():
        if not (_TYPE_WORD.fullmatch(word) or _ACRONYM.fullmatch(word)):
            break
        words.append(word)
    while words and _ACRONYM.fullmatch(words[-1]):
        words.pop()
    return " ".join(words) or None


def title_head(title: str, brand: str | None) -> str | None:
    """The head word of the title's first part (see the module's doc), if it has one."""
    first = _TITLE_PART_END.split(f" {title} ", maxsplit=1)[0].split()
    skip = _NOT_A_TYPE | {w.lower() for w in (brand or "").split()}
    candidates = []
    for i, raw in enumerate(first):
        word, before = raw.strip(_TRIM), first[i - 1] if i else ""
        if _FIGURE.search(word) or (_FIGURE.search(before) and word.lower() in _MEASURES):
            continue  # a figure, or its unit ("35.6 cm", "1200 DPI", "1 pc")
        if len(word) > 1 and _WORD.fullmatch(word) and not _CAMEL.search(word) and word.lower() not in skip:
            candidates.append(word)
    return singular(candidates[-1].lower()) if candidates else None


def type_heads(title: str, brand: str | None, model: str | None, catalogue_category: str | None) -> list[str]:
    """The head words of the product's type, from the most precise source that has one (see the module's doc)."""
    for phrase in (catalogue_category, title_type(title, model)):
        if phrase and (found := heads(phrase)):
            return found
    head = title_head(title, brand)
    return [head] if head else []
