"""Query-time synonyms of shopper search.

The Elasticsearch distribution this project runs has no `analysis-common` module, so no synonym token filter: the
search API expands the shopper's text itself. `alternatives(text)` gives other ways of writing the text: each
phrase of a synonym group (search_api/synonyms.txt) replaced by the other members of its group, and two adjacent
words written as one ("smart watch" → "smartwatch", since catalogue names often write compounds as one word). The
query builder searches each alternative in a match-type clause of its own, below the text as typed.

Matching is on lower-case word tokens (letters and digits); a trailing plural `s` is ignored on both sides, so
"laptops" finds the group of "laptop".
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

SYNONYMS_FILE = Path(__file__).resolve().with_name("synonyms.txt")
MAX_ALTERNATIVES = 4  # besides the text as typed
MAX_WORDS = 6  # longer texts are searched only as typed
MIN_COMPOUND_PART = 3  # both words of a compound have at least this many letters
_TOKEN = re.compile(r"[^\W_]+")

Phrase = tuple[str, ...]


def tokens(text: str) -> Phrase:
    return tuple(_TOKEN.findall(text.lower()))


def _stem(word: str) -> str:
    """A very light plural folding, applied the same way to the text and to the synonyms."""
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def _key(phrase: Phrase) -> Phrase:
    return tuple(_stem(w) for w in phrase)


def parse(text: str) -> list[tuple[Phrase, ...]]:
    """Groups of a synonyms file: one group a line, members separated by commas, `#` comments."""
    groups = []
    for line in text.splitlines():
        members: list[Phrase] = []
        for raw in line.split("#", 1)[0].split(","):
            phrase = tokens(raw)
            if phrase and _key(phrase) not in {_key(m) for m in members}:
                members.append(phrase)
        if len(members) > 1:
            groups.append(tuple(members))
    return groups


@dataclass(frozen=True)
class Synonyms:
    groups: tuple[tuple[Phrase, ...], ...]
    compounds: bool = True

    @classmethod
    def from_text(cls, text: str, compounds: bool = True) -> Synonyms:
        return cls(tuple(parse(text)), compounds)

    def _match(self, words: Phrase, start: int) -> tuple[int, tuple[Phrase, ...]] | None:
        """The longest synonym phrase starting at words[start]: its length and its group."""
        best: tuple[int, tuple[Phrase, ...]] | None = None
        for group in self.groups:
            for member in group:
                n = len(member)
                if (best is None or n > best[0]) and _key(words[start : start + n]) == _key(member):
                    best = (n, group)
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
            n, group = match
            typed = words[i : i + n]
            slots.append([" ".join(typed), *(" ".join(m) for m in group if _key(m) != _key(typed))])
            i += n
        return slots

    def _compounds(self, words: Phrase) -> list[str]:
        joined = []
        for i in range(len(words) - 1):
            left, right = words[i], words[i + 1]
            if min(len(left), len(right)) >= MIN_COMPOUND_PART and (left + right).isalpha():
                joined.append(" ".join((*words[:i], left + right, *words[i + 2 :])))
        return joined

    def alternatives(self, text: str) -> list[str]:
        """Other ways of writing `text` (lower case, at most MAX_ALTERNATIVES, the text itself never included)."""
        words = tokens(text)
        if not words or len(words) > MAX_WORDS:
            return []
        typed = " ".join(words)
        found: list[str] = []
        candidates = (" ".join(combo) for combo in itertools.product(*self._slots(words)))
        if self.compounds:
            candidates = itertools.chain(candidates, self._compounds(words))
        for candidate in candidates:
            if candidate != typed and candidate not in found:
                found.append(candidate)
                if len(found) == MAX_ALTERNATIVES:
                    break
        return found


@cache
def default() -> Synonyms:
    """The synonyms of search_api/synonyms.txt (read once)."""
    return Synonyms.from_text(SYNONYMS_FILE.read_text(encoding="utf-8"))


def alternatives(text: str) -> list[str]:
    return default().alternatives(text)
