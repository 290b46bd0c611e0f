"""A product type's head word, written the same way by the projector (which indexes `type_heads`) and the search API
(which looks for the head word of the shopper's text among them)."""

from __future__ import annotations


def singular(word: str) -> str:
    """A light plural folding ("batteries" -> "battery", "switches" -> "switch", "tvs" -> "tv"), on top of the
    index's own stemming, which does not know abbreviations ("TVs", "PCs"). Both sides fold alike, so a word folded
    too far ("gps" -> "gp") still meets itself."""
    if len(word) < 3 or not word.endswith("s") or word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "xes", "zes")):
        return word[:-2]
    return word[:-1]
