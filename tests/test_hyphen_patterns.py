"""linebreak._hyphenator: pyphen's English patterns read on demand give pyphen's own table and the
same hyphenation points (the loader is a speed-up only)."""

from __future__ import annotations

import pyphen

from interview_export import linebreak


def test_on_demand_patterns_are_pyphens_own():
    linebreak._hyphenator.cache_clear()        # whoever made the first English Pyphen in this process
    pyphen.hdcache.pop(pyphen.LANGUAGES[pyphen.language_fallback("en_US")], None)
    hd = linebreak._hyphenator().hd
    assert isinstance(hd.patterns, linebreak._OnDemand)
    own = pyphen.HyphDict(pyphen.LANGUAGES[pyphen.language_fallback("en_US")])
    assert set(hd.patterns) == set(own.patterns) and hd.maxlen == own.maxlen
    assert all(hd.patterns.get(key) == value for key, value in own.patterns.items())
    assert hd.patterns.get("qqqq") is None and hd.patterns.get("qqqq", 0) == 0


def test_same_hyphenation_points():
    own = pyphen.HyphDict(pyphen.LANGUAGES[pyphen.language_fallback("en_US")])
    words = ["hyphenation", "Anthropic", "reinforcement", "Geoffrey", "infrastructure", "OpenAI",
             "benchmarks", "Transformer", "unbelievably", "Mississippi", "characteristically"]
    hd = linebreak._hyphenator().hd
    assert [hd.positions(w) for w in words] == [own.positions(w) for w in words]
    assert linebreak.hyphenate("infrastructure") == "in\u00adfra\u00adstruc\u00adture"
