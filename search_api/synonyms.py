"""Query-time synonyms of shopper search.

The Elasticsearch distribution this project runs has no `analysis-common` module, hence no synonym token filter:
the search API expands the shopper's text itself. `alternatives(text)` gives other ways of writing the text, each
phrase that a rule of search_api/synonyms.txt knows replaced by what the rule says it may also be searched as. The
query builder (search_api/queries/ranking.py) searches each alternative in match-type clauses of its own, weighted
below the text as typed.

synonyms.txt holds one rule a line, in Solr's format: `a, b, c` makes the phrases equivalent (each is also searched
as the others); `a, b => c` searches `a` or `b` also as `c`, not the other way round (shoppers type "laptop" where
the catalogue says "notebook", while "notebook" should not also find everything that mentions a laptop).
Matching is on lower-case word tokens (letters and digits), longest phrase first; a trailing plural `s` is ignored
on both sides, so "laptops" meets the rule of "laptop".
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

SYNONYMS_FILE = Path(__file__).resolve().with_name("synonyms.txt")
MAX_ALTERNATIVES = 4  # besides the text as typed
MAX_WORDS = 6  # longer texts are searched only as typed
_TOKEN = re.compile(r"[^\W_]+")

Phrase = tuple[str, ...]
Rule = tuple[Phrase, tuple[Phrase, ...]]  # a phrase as typed -> the phrases it is also searched as


def tokens(text: str) -> Phrase:
    return tuple(_TOKEN.findall(text.lower()))


def _stem(word: str) -> str:
    """A very light plural folding, applied the same way to the text and to the synonyms."""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _key(phrase: Phrase) -> Phrase:
    return tuple(_stem(w) for w in phrase)


def _phrases(text: str) -> list[Phrase]:
    found: list[Phrase] = []
    for raw in text.split(","):
        phrase = tokens(raw)
        if phrase and _key(phrase) not in {_key(p) for p in found}:
            found.append(phrase)
    return found


def parse(text: str) -> list[Rule]:
    """Rules of a synonyms file: `a, b, c` (equivalent) or `a, b => c` (one way); `#` starts a comment."""
    rules: list[Rule] = []
    for line in text.splitlines():
        body = line.split("#", 1)[0]
        if "=>" in body:
            left, right = body.split("=>", 1)
            targets = tuple(_phrases(right))
            rules += [(source, targets) for source in _phrases(left) if targets]
        else:
            members = _phrases(body)
            if len(members) > 1:
                rules += [(m, tuple(o for o in members if o != m)) for m in members]
    return rules


@dataclass(frozen=True)
class Synonyms:
    rules: tuple[Rule, ...]
    # The rules by the key of their phrase's first word, each with its length and key: matching a text looks only
    # at the rules that can start at a word.
    _by_first: dict[str, list[tuple[int, Phrase, tuple[Phrase, ...]]]] = field(
        init=False, repr=False, compare=False, default_factory=dict
    )

    def __post_init__(self) -> None:
        for source, targets in self.rules:
            key = _key(source)
            self._by_first.setdefault(key[0], []).append((len(source), key, targets))

    @classmethod
    def from_text(cls, text: str) -> Synonyms:
        return cls(tuple(parse(text)))

    def _match(self, words: Phrase, start: int) -> tuple[int, tuple[Phrase, ...]] | None:
        """The longest rule's phrase starting at words[start]: its length and what it is also searched as."""
        best: tuple[int, tuple[Phrase, ...]] | None = None
        for n, key, targets in self._by_first.get(_stem(words[start]), ()):
            if (best is None or n > best[0]) and _key(words[start : start + n]) == key:
                best = (n, targets)
        return best

    def _slots(self, words: Phrase) -> list[list[str]]:
        """The text cut into spans; each span's list holds the span as typed, then its synonyms."""
        slots: list[list[str]] = []
        i = 0
        while i < len(words):
            match = self._match(words, i)
            if match is None:
                slots.append([words[i]])
                i += 1
                continue
            n, targets = match
            slots.append([" ".join(words[i : i + n]), *(" ".join(t) for t in targets)])
            i += n
        return slots

    def alternatives(self, text: str) -> list[str]:
        """Other ways of writing `text` (lower case, at most MAX_ALTERNATIVES, the text itself never included)."""
        words = tokens(text)
        if not words or len(words) > MAX_WORDS:
            return []
        typed = " ".join(words)
        found: list[str] = []
        for combo in itertools.product(*self._slots(words)):
            candidate = " ".join(combo)
            if candidate != typed and candidate not in found:
                found.append(candidate)
                if len(found) == MAX_ALTERNATIVES:
                    break
        return found


@cache
def default() -> Synonyms:
    """The synonyms of search_api/synonyms.txt (read once)."""
    return Synonyms.from_text(SYNONYMS_FILE.read_text(encoding="utf-8"))


@lru_cache(maxsize=4096)
def _cached_alternatives(text: str) -> tuple[str, ...]:
    return tuple(default().alternatives(text))


def alternatives(text: str) -> list[str]:
    """default().alternatives(text), remembered for the last few thousand texts (a search asks twice: for the
    query and for the highlight, and shoppers' texts repeat)."""
    return list(_cached_alternatives(text))
