import random
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trm.dataprotection.normalise import birth_year_key, document_key, name_key

# Latin (with diacritics), Cyrillic and Greek letters: the scripts names arrive in.
_LETTERS = st.characters(
    categories=["Lu", "Ll"],
    include_characters="ăâîșțşţđćčžšđ",
    max_codepoint=0x04FF,
)
_WORD = st.text(_LETTERS, min_size=1, max_size=12)
_NAME_TEXT = st.text(max_size=40)


@pytest.mark.parametrize(
    "spelling",
    [
        "IOANA POPESCU",
        "ioana popescu",
        "Иоана Попеску",
        "Popescu Ioana",
        "Popescu, Ioana",
        "Ioana  Popescu,",
        " Ioana\tPopescu ",
        "Йоана Попеску",
    ],
)
def test_spellings_of_one_name_share_a_key(spelling):
    assert name_key(spelling) == name_key("Ioana Popescu")


@pytest.mark.parametrize(
    ("latin", "other"),
    [
        ("Ștefan Țurcanu", "Штефан Цуркану"),  # comma below (Romanian standard)
        ("Ştefan Ţurcanu", "Штефан Цуркану"),  # cedilla (legacy encodings)
        ("Stefan Turcanu", "Ștefan Țurcanu"),
        ("Đorđe", "Ђорђе"),
        ("Djordje", "Ђорђе"),
        ("Dorde", "Đorđe"),
        ("Zhivko Shishkov", "Живко Шишков"),
        ("Tsvetan", "Цветан"),
        ("Khristo", "Христо"),
    ],
)
def test_latin_and_cyrillic_spellings_share_a_key(latin, other):
    assert name_key(latin) == name_key(other)


def test_different_names_have_different_keys():
    assert name_key("Ioana Popescu") != name_key("Ioana Popa")
    assert name_key("Ioana Popescu") != name_key("Ioana")


def test_name_of_only_punctuation_has_an_empty_key():
    assert name_key("") == ""
    assert name_key(" ,-. ") == ""


@given(_NAME_TEXT)
def test_name_key_is_idempotent(value):
    key = name_key(value)
    assert name_key(key) == key


@given(st.lists(_WORD, min_size=1, max_size=5), st.randoms(use_true_random=False))
def test_name_key_ignores_word_order(words, rnd: random.Random):
    shuffled = list(words)
    rnd.shuffle(shuffled)
    assert name_key(" ".join(words)) == name_key(" ".join(shuffled))


@given(st.lists(_WORD, min_size=1, max_size=5))
def test_name_key_ignores_case_and_separators(words):
    assert name_key(" ".join(words)) == name_key(", ".join(w.upper() for w in words))


@pytest.mark.parametrize(
    "spelling",
    [
        "AB123456",
        "ab 123 456",
        "AB-123-456",
        "ab.123/456",
        "АВ123456",  # noqa: RUF001 - Cyrillic A and Ve typed for Latin A and B
        "ав 123-456",
        "ΑΒ123456",  # noqa: RUF001 - Greek Alpha and Beta
        "ＡＢ１２３４５６",  # noqa: RUF001 - full-width forms (NFKC)
    ],
)
def test_spellings_of_one_document_number_share_a_key(spelling):
    assert document_key(spelling) == "AB123456"


def test_every_cyrillic_look_alike_reads_as_its_latin_letter():
    cyrillic = "АВЕЅІЈКМНОРСТУХ"  # noqa: RUF001
    assert document_key(cyrillic) == "ABESIJKMHOPCTYX"


def test_document_key_keeps_letters_and_digits_only():
    assert document_key(" x-1 / 2 ") == "X12"
    assert document_key("--") == ""


@given(st.text(max_size=30))
def test_document_key_is_idempotent(value):
    key = document_key(value)
    assert document_key(key) == key


@pytest.mark.parametrize(
    ("value", "key"),
    [(None, ""), (1999, "1999"), (date(1999, 4, 3), "1999"), (987, "0987")],
)
def test_birth_year_key(value, key):
    assert birth_year_key(value) == key


@pytest.mark.parametrize(
    ("cyrillic", "latin"),
    [
        ("Ольга", "Olga"),
        ("Юлия Ковальчук", "Yulia Kovalchuk"),
        ("Васильев", "Vasilev"),
        ("Хмельников", "Khmelnikov"),
    ],
)
def test_soft_sign_does_not_split_a_name(cyrillic, latin):
    assert name_key(cyrillic) == name_key(latin)
    assert " " not in name_key(cyrillic.split()[-1])
