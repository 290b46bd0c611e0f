"""How shopper search matches and scores products for a text.

The text's own score decides what matches and orders it first: its words as typed in every text field (the name
weighing most), or with a typo in `typo_text`, or in another wording (search_api/synonyms.txt). Signals then
multiply that score (`function_score`, `score_mode` and `boost_mode` multiply): a product showing a signal scores
`factor` times as much, whatever the size of the text score. A factor is relative: it moves a product past others
of similar relevance, never past one the text prefers by much more, and it does the same on a query of rare words
(high scores) as on one of common words (low scores), which a constant added to the score does not. All factors
together multiply a score by at most their product.

The factors of Ranking were chosen by tests/bench/relevance.py: each from a few round values ("off", "half again",
"twice"), by cross-validation on the Chorus dev judgments (chosen on four fifths of the queries, scored on the fifth
left out), and a signal is there because the held-out score is lower without it. The in-stock factor is not tuned
(the judgments know nothing of stock): it is a business rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from search_api.synonyms import alternatives, tokens
from shared.type_words import singular


@dataclass(frozen=True)
class Ranking:
    """The factors of the ranking signals (1.0 turns a signal off) and the synonyms' switch."""

    # The words in the order typed, next to each other, in the name ("hard drive" rather than "drive ... hard").
    name_phrase: float = 1.5
    # The product's type (projector/projections/product_type.py) is what the text asks for: the text's head word
    # (its last: a "laptop bag" is a bag) is a head word of the type. A bag that mentions laptops is not a laptop.
    product_type: float = 2.0
    # In stock in some warehouse: an out-of-stock product still appears, below in-stock ones of similar relevance.
    # A tenth: products of nearly equal relevance trade places, the others keep theirs.
    in_stock: float = 1.1
    synonyms: bool = True  # search_api/synonyms.txt's other wordings


RANKING = Ranking()

# Fields searched, with their weights: the name counts most (what the product is; a description also says what it
# fits or comes with), then brand, category, attributes and description. How much a long name counts against the
# words found in it is the mapping's (products.v4.json, `name_bm25`).
TEXT_FIELDS = ["name^4", "name.plain^2", "brand.text^3", "category.text^2", "attributes_text", "description"]
FUZZY_WEIGHT = 0.5  # a word with a typo finds products, but scores half as much as the words as typed
SYNONYM_WEIGHT = 0.5  # another wording likewise
# One or two words: all must match; more: three quarters of them (rounded down).
MINIMUM_SHOULD_MATCH = "2<75%"
FUZZY_EXPANSIONS = 10  # terms a misspelt word may stand for (Elasticsearch's default is 50)
# Typos are looked for in one field, `typo_text`: the unstemmed words of the name, brand, attributes and description
# (copy_to in the mapping). A fuzzy term intersects its automaton with each field's term dictionary: looking for
# typos in those four fields themselves, with two edits from 8 letters, took twice as long (tests/bench/query_cost.py)
# and ranked lower on the judgments.
FUZZY_FIELDS = ["typo_text"]
# No edit for words under 4 letters, one from 4 (a swap of two adjacent letters counts as one). Two edits from 8
# letters (AUTO:4,8) made the query slower and ranked no better; "AUTO" itself allows one edit from 3 letters: many
# candidates for short words.
FUZZINESS = "AUTO:4,99"
# "case for ipad" asks for a case: the head of what is asked for comes before these words.
_HEAD_ENDS = frozenset({"for", "with"})


def wordings(q: str, ranking: Ranking, synonyms: Callable[[str], list[str]] = alternatives) -> list[str]:
    """Other ways of writing `q` that are searched too, below the text as typed."""
    return list(synonyms(q)) if ranking.synonyms else []


def head_word(text: str) -> str | None:
    """The word naming what the text asks for, singular: its last word that is not a number, before "for"/"with"
    if there is one."""
    words = tokens(text)
    for i, word in enumerate(words):
        if word in _HEAD_ENDS and i > 0:
            words = words[:i]
            break
    named = [w for w in words if not w.isdigit()]
    return singular(named[-1]) if named else None


def _recall(text: str, weight: float) -> dict[str, Any]:
    """What a text recalls, and how it scores: its words as typed in any text field (weight 1 + FUZZY_WEIGHT: they
    both recall and rank), or with typos in FUZZY_FIELDS (FUZZY_WEIGHT). One clause for the words: Elasticsearch
    would evaluate a second, identical one all over again."""
    return {
        "bool": {
            "should": [
                {
                    "multi_match": {
                        "query": text,
                        "fields": TEXT_FIELDS,
                        "type": "most_fields",
                        "minimum_should_match": MINIMUM_SHOULD_MATCH,
                        "boost": (1.0 + FUZZY_WEIGHT) * weight,
                    }
                },
                {
                    "multi_match": {
                        "query": text,
                        "fields": FUZZY_FIELDS,
                        "type": "most_fields",
                        "fuzziness": FUZZINESS,
                        "prefix_length": 1,
                        "max_expansions": FUZZY_EXPANSIONS,
                        "minimum_should_match": MINIMUM_SHOULD_MATCH,
                        "boost": FUZZY_WEIGHT * weight,
                    }
                },
            ]
        }
    }


def _any(clauses: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"bool": {"should": clauses}}


def signals(texts: list[str], ranking: Ranking) -> list[dict[str, Any]]:
    """The function_score functions for a text and its other wordings: a filter each, and the factor of a product
    that passes it. A one-word text has no order: it gets no phrase signal."""
    heads = [h for h in dict.fromkeys(head_word(t) for t in texts) if h]
    filters: list[tuple[float, dict[str, Any] | None]] = [
        (ranking.name_phrase, _any([{"match_phrase": {"name": t}} for t in texts if len(t.split()) > 1])),
        (ranking.product_type, {"match": {"type_heads": " ".join(heads)}} if heads else None),
        (ranking.in_stock, {"term": {"in_stock": True}}),
    ]
    return [{"filter": f, "weight": factor} for factor, f in filters if f is not None and factor != 1.0]


def text_query(
    q: str, ranking: Ranking = RANKING, synonyms: Callable[[str], list[str]] = alternatives
) -> dict[str, Any]:
    """Products matching the shopper's text (typos tolerated), best first: the text's own score (see _recall; other
    wordings weigh SYNONYM_WEIGHT as much) times the factor of each signal the product shows. The user's text only
    ever appears as the value of match-type clauses."""
    others = wordings(q, ranking, synonyms)
    recall = _recall(q, 1.0)
    if others:
        recall = {"bool": {"should": [recall, *(_recall(w, SYNONYM_WEIGHT) for w in others)]}}
    functions = signals([q, *others], ranking)
    if not functions:
        return recall
    return {
        "function_score": {"query": recall, "functions": functions, "score_mode": "multiply", "boost_mode": "multiply"}
    }
