"""Query-time synonyms (search_api/synonyms.py): the rules file's format and the alternatives of a text (pure)."""

from __future__ import annotations

from search_api import synonyms
from search_api.queries.products import highlight_query
from search_api.queries.ranking import RANKING, text_query
from search_api.synonyms import MAX_ALTERNATIVES, MAX_WORDS, Synonyms, parse

RULES = """
# a comment line
laptop => notebook          # one way
hdd, hard drive, hard disk  # equivalent
usb stick, usb flash drive
usb => universal serial bus
"""


def rules() -> Synonyms:
    return Synonyms.from_text(RULES)


def test_parse_reads_one_way_and_equivalent_rules_and_skips_comments() -> None:
    parsed = parse(RULES)
    assert (("laptop",), (("notebook",),)) in parsed
    assert (("notebook",), (("laptop",),)) not in parsed  # one way only
    assert (("hard", "drive"), (("hdd",), ("hard", "disk"))) in parsed
    assert (("hdd",), (("hard", "drive"), ("hard", "disk"))) in parsed
    assert not any("comment" in " ".join(source) for source, _ in parsed)


def test_parse_ignores_lines_without_a_rule() -> None:
    assert parse("single\n\n => nothing on the left\nleft =>\n") == []


def test_alternatives_replace_the_known_phrase_and_never_include_the_text() -> None:
    assert rules().alternatives("Laptop bag") == ["notebook bag"]
    assert rules().alternatives("notebook bag") == []
    alternatives = rules().alternatives("external hard drive")
    assert alternatives == ["external hdd", "external hard disk"]
    assert "external hard drive" not in alternatives


def test_the_longest_phrase_wins() -> None:
    # "usb stick" (two words) is matched before "usb" (one word) at the same place.
    assert rules().alternatives("usb stick") == ["usb flash drive"]
    assert rules().alternatives("usb cable") == ["universal serial bus cable"]


def test_a_trailing_plural_s_is_ignored_on_both_sides() -> None:
    assert rules().alternatives("laptops") == ["notebook"]
    assert rules().alternatives("hard drives") == ["hdd", "hard disk"]


def test_alternatives_are_bounded() -> None:
    many = Synonyms.from_text("a1, a2, a3\nb1, b2, b3\n")
    assert len(many.alternatives("a1 b1")) == MAX_ALTERNATIVES
    assert rules().alternatives(" ".join(["laptop"] * (MAX_WORDS + 1))) == []
    assert rules().alternatives("  ,;  ") == []


def test_the_shipped_file_is_read_and_its_answers_are_remembered() -> None:
    first = synonyms.alternatives("laptop")
    assert "notebook" in first
    first.append("changed by a caller")  # a caller's list is its own: the remembered answer is not touched
    assert synonyms.alternatives("laptop") == [a for a in first if a != "changed by a caller"]


def test_the_query_searches_each_alternative_below_the_text_as_typed() -> None:
    body = text_query("laptop bag", synonyms=rules().alternatives)
    text = str(body)
    assert "'query': 'laptop bag'" in text and "'query': 'notebook bag'" in text
    highlighted = highlight_query("laptop bag", RANKING, synonyms=rules().alternatives)
    assert [c["multi_match"]["query"] for c in highlighted["bool"]["should"]] == ["laptop bag", "notebook bag"]


def test_every_shipped_rule_says_which_words_the_catalogue_uses() -> None:
    lines = [line for line in synonyms.SYNONYMS_FILE.read_text().splitlines() if line and not line.startswith("#")]
    assert lines
    for line in lines:
        rule, _, why = line.partition("#")
        assert parse(rule) and "names" in why, f"rule without its catalogue justification: {line!r}"


def test_a_brand_format_is_not_a_generic_word() -> None:
    # "Memory Stick" is Sony's card format in the catalogue, not a USB flash drive.
    assert synonyms.alternatives("memory stick") == []
    assert synonyms.alternatives("usb stick") == ["usb flash drive"]
