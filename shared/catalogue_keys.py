"""Words the projector indexes for ranking signals and the search API looks for, written the same way by both.

Brand names and model numbers as keys (`brand_key`, `model_key`): shoppers write a model number with or without its
separators and in any case ("TN-2110", "tn2110", "tn 2110"), a brand likewise ("Tripp Lite", "tripplite"); the key
keeps only the letters and digits, lower case. Type head words (`type_heads`) in the singular. Units of measure:
the projector leaves them out of a product's type ("35.6 cm"), the search API writes quantities with and without a
space ("500gb", "500 gb").
"""

from __future__ import annotations

import re

_NOT_ALNUM = re.compile(r"[\W_]+")
# Units of the catalogue's sizes, capacities, speeds, powers and resolutions, lower case. Not the one-letter units
# that are also words or names when joined to a number or apart ("5g" phones, "1080p", "2 in 1", "g"), except "m"
# (cable lengths: "2m", "2 m").
UNITS = frozenset(
    {
        "kb", "mb", "gb", "tb",  # storage and memory
        "mhz", "ghz", "hz",  # frequencies
        "mbps", "gbps", "mbit", "gbit",  # transfer rates
        "mm", "cm", "m", "inch", "ft",  # lengths, screen sizes
        "kg", "ml",  # weights, volumes
        "w", "kw", "v", "mah", "wh", "va", "kva",  # power, batteries
        "mp", "dpi", "ppm", "rpm",  # resolutions, print and disc speeds
    }
)  # fmt: skip
MAX_KEY_WORDS = 3  # brands and model numbers are rarely typed as more words than this


def identifier_key(text: str) -> str:
    """`text` lower case, with everything but letters and digits removed ("TN-2110" -> "tn2110")."""
    return _NOT_ALNUM.sub("", text.lower())


def query_keys(text: str) -> list[str]:
    """The keys a shopper's text may hold: every run of up to MAX_KEY_WORDS consecutive words (split at spaces, so
    that "tn-2110" stays one word), and the whole text, each as identifier_key; keys of one character are left out
    (too many products would have them)."""
    words = text.split()
    found: list[str] = []
    runs = [words[i : i + n] for n in range(1, MAX_KEY_WORDS + 1) for i in range(len(words) - n + 1)]
    for run in [*runs, words]:
        key = identifier_key("".join(run))
        if len(key) > 1 and key not in found:
            found.append(key)
    return found


def singular(word: str) -> str:
    """A light plural folding ("tvs" -> "tv", "cables" -> "cable"), on top of the index's own stemming, which does
    not know abbreviations ("TVs", "PCs") and leaves nothing to fold when it does."""
    if len(word) > 2 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word
