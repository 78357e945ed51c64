import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mail_engine.addresses import (
    domain_of,
    format_address_list,
    normalize,
    parse_address_list,
    split_addresses,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # the examples of odoo.tools.email_normalize / email_split_tuples
        ("Name <NaMe@DoMaIn.CoM>", "name@domain.com"),
        ('"Raoul le Grand" <raoul@grosbedon.fr>', "raoul@grosbedon.fr"),
        ("Raoul <raoul@grosbedon.fr>", "raoul@grosbedon.fr"),
        ("Raoul raoul@grosbedon.fr", "raoul@grosbedon.fr"),
        ("raoul@grosbedon.fr", "raoul@grosbedon.fr"),
        ('tony@e.com, "Tony2" <tony2@e.com>', None),
        # more ordinary shapes
        ("  <Ivan.Petrov@Example.RU>  ", "ivan.petrov@example.ru"),
        ("IVAN+crm@EXAMPLE.ru", "ivan+crm@example.ru"),
        ('"Petrov, Ivan" <Ivan@Example.ru>', "ivan@example.ru"),
        ("ivan@example.ru (Ivan Petrov)", "ivan@example.ru"),
        ("mailto:Ivan@Example.ru", "ivan@example.ru"),
        ("=?utf-8?B?0JjQstCw0L0=?= <ivan@example.ru>", "ivan@example.ru"),
        ("user@localhost", "user@localhost"),
        # IDNA domains are kept as given, lowercased; a non-ASCII local part
        # keeps its case (SMTPUTF8), exactly like Odoo
        ("Иван <Иван@Пример.РФ>", "Иван@пример.рф"),
        ("info@XN--E1AFMKFD.XN--P1AI", "info@xn--e1afmkfd.xn--p1ai"),
        # not an address
        ("", None),
        (None, None),
        (False, None),
        ("not an address", None),
        ("Ivan Petrov", None),
        ("a@", None),
        ("@example.com", None),
        ("a@@example.com", None),
        ("a@example..com", None),
        ("a@.example.com", None),
        ("<>", None),
    ],
)
def test_normalize(value, expected):
    assert normalize(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ivan <ivan@YA.RU>", "ya.ru"),
        ("a@Example.COM", "example.com"),
        ("not an address", None),
        ("", None),
        (None, None),
    ],
)
def test_domain_of(value, expected):
    assert domain_of(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a@x.ru, b@y.ru", ["a@x.ru", "b@y.ru"]),
        ("a@x.ru; b@y.ru;", ["a@x.ru", "b@y.ru"]),
        ("a@x.ru\nb@y.ru\r\nc@z.ru", ["a@x.ru", "b@y.ru", "c@z.ru"]),
        ("a@x.ru b@y.ru\tc@z.ru", ["a@x.ru", "b@y.ru", "c@z.ru"]),
        ("a@x.ru;b@y.ru , ,; c@z.ru", ["a@x.ru", "b@y.ru", "c@z.ru"]),
        # deduplicated, first position kept
        ("B@y.ru, a@x.ru, b@Y.RU", ["b@y.ru", "a@x.ru"]),
        # full header with quoted names holding separators
        (
            '"Petrov, Ivan" <ivan@x.ru>, "Smirnova; Anna" <anna@y.ru>, c@z.ru',
            ["ivan@x.ru", "anna@y.ru", "c@z.ru"],
        ),
        # folded header
        ("Ivan <ivan@x.ru>,\r\n Anna <anna@y.ru>", ["ivan@x.ru", "anna@y.ru"]),
        # groups
        ("undisclosed-recipients:;", []),
        ("Team: a@x.ru, b@y.ru;, c@z.ru", ["a@x.ru", "b@y.ru", "c@z.ru"]),
        # junk between addresses is ignored
        ("call me, or write to ivan@x.ru!", ["ivan@x.ru"]),
        ("", []),
        (None, []),
    ],
)
def test_split_addresses(text, expected):
    assert split_addresses(text) == expected


def test_parse_address_list_names():
    header = (
        '"Petrov, Ivan" <Ivan@X.ru>, =?utf-8?B?0JDQvdC90LA=?= <anna@y.ru>, '
        '"=?koi8-r?B?8MXU0s/X?=" <p@z.ru>, c@w.ru (Sergey), '
        "=?windows-1251?B?0e/g8ejh7g==?= <s@v.ru>"
    )
    assert parse_address_list(header) == [
        ("Petrov, Ivan", "ivan@x.ru"),
        ("Анна", "anna@y.ru"),
        ("Петров", "p@z.ru"),
        ("Sergey", "c@w.ru"),
        ("Спасибо", "s@v.ru"),
    ]


def test_parse_address_list_encoded_name_with_comma():
    # the decoded name holds a comma: decoding must come after splitting
    header = "=?utf-8?B?0J/QtdGC0YDQvtCyLCDQmNCy0LDQvQ==?= <ivan@x.ru>, b@y.ru"
    assert parse_address_list(header) == [("Петров, Иван", "ivan@x.ru"), ("", "b@y.ru")]


def test_parse_address_list_raw_8bit_name():
    raw = "Иван Петров".encode("cp1251").decode("ascii", "surrogateescape")
    assert parse_address_list(f"{raw} <ivan@x.ru>") == [("Иван Петров", "ivan@x.ru")]


def test_parse_address_list_odd_input():
    assert parse_address_list("ivan@x.ru <ivan@x.ru>") == [("", "ivan@x.ru")]
    assert parse_address_list('"unterminated <a@x.ru>, b@y.ru') == [
        ("unterminated", "a@x.ru"),
        ("", "b@y.ru"),
    ]
    assert parse_address_list("<a@x.ru") == [("", "a@x.ru")]
    assert parse_address_list('"Esc\\"aped" <a@x.ru>') == [('Esc"aped', "a@x.ru")]
    # a repeated address keeps its place and gains the first real name
    assert parse_address_list("a@x.ru, Ann <A@X.RU>, Other <a@x.ru>") == [
        ("Ann", "a@x.ru")
    ]


def test_format_address_list():
    pairs = [("Petrov, Ivan", "ivan@x.ru"), ("", "b@y.ru"), ("Анна", "anna@z.ru")]
    text = format_address_list(pairs)
    assert text == '"Petrov, Ivan" <ivan@x.ru>, b@y.ru, Анна <anna@z.ru>'
    assert parse_address_list(text) == pairs
    assert format_address_list([('Say "hi"', "a@x.ru")]) == '"Say \\"hi\\"" <a@x.ru>'
    assert format_address_list([]) == ""
    assert format_address_list([("Nobody", "")]) == ""


_NAME = (
    st.text(alphabet='abcXYZ019 ,;<>()@:."\\-_Жжё', min_size=1, max_size=20)
    .map(lambda s: " ".join(s.split()).strip("\"' "))
    .filter(bool)
)
_ADDRESS = st.from_regex(
    r"[a-z0-9._+-]{1,10}@[a-z0-9-]{1,10}\.[a-z]{2,5}", fullmatch=True
)


@given(st.lists(st.tuples(_NAME, _ADDRESS), max_size=5, unique_by=lambda p: p[1]))
@settings(max_examples=200, deadline=None)
def test_format_then_parse_roundtrip(pairs):
    pairs = [(name, addr) for name, addr in pairs if normalize(addr) == addr]
    assert parse_address_list(format_address_list(pairs)) == pairs


@given(st.text(max_size=120))
@settings(max_examples=200, deadline=None)
def test_address_functions_never_raise(text):
    assert isinstance(split_addresses(text), list)
    for _name, address in parse_address_list(text):
        assert normalize(address) == address
    normalize(text)
