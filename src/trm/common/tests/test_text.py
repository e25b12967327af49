import pytest

from trm.common.text import InvalidText, clean_text, fold_key

REFUSED = {
    "nul": "\x00",
    "tab": "\t",
    "carriage-return": "\r",
    "escape": "\x1b",
    "c1-control": "\x85",
    "lone-surrogate": "\ud800",
    "lre": "\u202a",
    "rle": "\u202b",
    "pdf": "\u202c",
    "lro": "\u202d",
    "rlo": "\u202e",
    "lri": "\u2066",
    "rli": "\u2067",
    "fsi": "\u2068",
    "pdi": "\u2069",
    "zwsp": "\u200b",
    "zwnj": "\u200c",
    "zwj": "\u200d",
    "word-joiner": "\u2060",
    "bom": "\ufeff",
}


@pytest.mark.parametrize("char", REFUSED.values(), ids=REFUSED.keys())
def test_clean_text_refuses_control_and_invisible_characters(char):
    with pytest.raises(InvalidText) as info:
        clean_text(f"Fictional{char}Name", field="name", max_length=200)
    assert info.value.details == {"field": "name"}
    assert info.value.message


def test_clean_text_strips_and_normalises_to_nfc():
    decomposed = "Jose\u0301 "
    assert clean_text(decomposed, field="name", max_length=10) == "Jos\u00e9"


def test_clean_text_allows_other_scripts_and_punctuation():
    for value in ("Министерство на труда", "Ministerul Muncii – Direcția", "O'Neil"):
        assert clean_text(value, field="name", max_length=200) == value


def test_clean_text_refuses_text_over_the_limit():
    assert clean_text("x" * 5, field="name", max_length=5) == "xxxxx"
    with pytest.raises(InvalidText, match="at most 5"):
        clean_text("x" * 6, field="name", max_length=5)


def test_clean_text_allows_empty_text():
    assert clean_text("   ", field="name", max_length=5) == ""


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Министерство", "министерство"),
        ("ДИРЕКЦИЯ", "дирекция"),
        ("Straße", "STRASSE"),
        ("".join(chr(ord(c) + 0xFEE0) for c in "Fullwidth"), "fullwidth"),
        ("Direcția", "DIRECȚIA"),
    ],
)
def test_fold_key_matches_case_and_width_variants(a, b):
    assert fold_key(a) == fold_key(b)


def test_fold_key_keeps_different_letters_apart():
    assert fold_key("\u0430dmin") != fold_key("admin")
