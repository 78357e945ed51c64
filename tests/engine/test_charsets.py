import base64
from email.header import Header

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mail_engine.charsets import (
    decode_b64_lenient,
    decode_bytes,
    decode_header_value,
    detect_cyrillic,
    lookup_charset,
)

RUSSIAN = [
    "Привет",
    "Тест",
    "Договор",
    "ПРИВЕТ МИР",
    "АКТ СВЕРКИ",
    "ДОГОВОР ПОСТАВКИ",
    "Re: Счет на оплату",
    "Файл.pdf",
    "Отчёт за март.xlsx",
    "Здравствуйте, Иван Петрович! Высылаю счёт.",
    "Добрый день!\nПрошу подтвердить получение письма.\nС уважением, Анна",
    "Коммерческое предложение ООО Ромашка",
]


def _b(text):
    return base64.b64encode(text.encode("utf-8")).decode()


@pytest.mark.parametrize(
    ("label", "codec"),
    [
        ("win-1251", "cp1251"),
        ("windows1251", "cp1251"),
        ("cp-1251", "cp1251"),
        ("WINDOWS-1251", "cp1251"),
        ("x-cp1251", "cp1251"),
        ('"koi8r"', "koi8-r"),
        ("KOI8-R", "koi8-r"),
        ("utf8", "utf-8"),
        ("UTF-8", "utf-8"),
        ("utf-8*ru", "utf-8"),
        ("ks_c_5601-1987", "cp949"),
        ("gb2312", "gb18030"),
        ("iso-8859-1", "iso8859-1"),
        ("windows-1252", "cp1252"),
        ("us-ascii", "ascii"),
        ("x-unknown", None),
        ("unknown-8bit", None),
        ("", None),
        (None, None),
        ("no-such-charset", None),
        ("base64", None),  # a bytes codec, not a charset
        ("idna", None),
        ("unicode_escape", None),
    ],
)
def test_lookup_charset(label, codec):
    assert lookup_charset(label) == codec


@pytest.mark.parametrize("text", RUSSIAN)
@pytest.mark.parametrize("codec", ["cp1251", "koi8-r"])
def test_detect_cyrillic(text, codec):
    assert detect_cyrillic(text.encode(codec)) == (text, codec)


def test_detect_cyrillic_rejects_western_text():
    assert (
        detect_cyrillic("Café crème, résumé à la française".encode("latin-1")) is None
    )


@pytest.mark.parametrize(
    ("declared", "codec"),
    [
        ("win-1251", "cp1251"),
        ("windows1251", "cp1251"),
        ("cp-1251", "cp1251"),
        ("koi8r", "koi8-r"),
    ],
)
def test_decode_bytes_alias_labels(declared, codec):
    text = "Счёт на оплату"
    assert decode_bytes(text.encode(codec), declared) == (text, codec)


def test_decode_bytes_trusts_valid_declaration():
    # cp1251 bytes labelled latin-1 decode without error: not second-guessed
    data = "Привет".encode("cp1251")
    assert decode_bytes(data, "iso-8859-1") == (data.decode("latin-1"), "iso8859-1")


@pytest.mark.parametrize("codec", ["cp1251", "koi8-r"])
@pytest.mark.parametrize(
    "declared", [None, "", "x-unknown", "unknown-8bit", "us-ascii", "bogus", "utf-8"]
)
def test_decode_bytes_detects_cyrillic_when_declaration_fails(codec, declared):
    text = "Добрый день, коллеги! Отправляю договор."
    assert decode_bytes(text.encode(codec), declared) == (text, codec)


def test_decode_bytes_utf8_before_detection():
    text = "Привет, мир"
    assert decode_bytes(text.encode("utf-8"), "x-unknown") == (text, "utf-8")
    assert decode_bytes(text.encode("utf-8"), None) == (text, "utf-8")
    assert decode_bytes(text.encode("utf-8"), "us-ascii") == (text, "utf-8")


def test_decode_bytes_ascii():
    assert decode_bytes(b"hello", "us-ascii") == ("hello", "ascii")
    assert decode_bytes(b"hello", None) == ("hello", "ascii")
    assert decode_bytes(b"", "utf-8") == ("", "utf-8")


def test_decode_bytes_last_resort_is_utf8_with_replacement():
    text, used = decode_bytes("Café crème".encode("latin-1"), None)
    assert (text, used) == ("Caf\ufffd cr\ufffdme", "utf-8")


def test_decode_bytes_other_charsets():
    assert (
        decode_bytes("안녕하세요".encode("cp949"), "ks_c_5601-1987")[0] == "안녕하세요"
    )
    # "镕" is in GBK (and GB18030) but not in GB2312
    assert decode_bytes("镕".encode("gbk"), "gb2312") == ("镕", "gb18030")
    assert decode_bytes("\ufeffBOM".encode("utf-8"), "utf-8") == ("BOM", "utf-8")


@given(
    data=st.binary(max_size=300),
    declared=st.sampled_from(
        [
            None,
            "",
            "utf-8",
            "koi8-r",
            "cp1251",
            "us-ascii",
            "x-unknown",
            "utf-16",
            "iso-2022-jp",
            "gb2312",
            "base64",
            "zzz",
            "utf-7",
        ]
    ),
)
@settings(max_examples=200, deadline=None)
def test_decode_bytes_never_raises(data, declared):
    text, used = decode_bytes(data, declared)
    assert isinstance(text, str)
    assert lookup_charset(used)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=?utf-8?B?0J/RgNC40LLQtdGC?=", "Привет"),
        ("=?UTF-8?b?0J/RgNC40LLQtdGC?=", "Привет"),
        ("=?koi8-r?B?8NLJ18XU?=", "Привет"),
        ("=?koi8-r?Q?=F0=D2=C9=D7=C5=D4_=CD=C9=D2?=", "Привет мир"),
        ("=?windows-1251?B?z/Do4uXy?=", "Привет"),
        ("=?win-1251?Q?=CF=F0=E8=E2=E5=F2?=", "Привет"),
        # whitespace between encoded words is dropped, not around plain text
        ("Re: =?utf-8?Q?a?= =?utf-8?Q?b?= c", "Re: ab c"),
        ("=?utf-8?Q?a?=\r\n =?utf-8?Q?b?=", "ab"),
        # a UTF-8 character split across two encoded words survives
        ("=?utf-8?B?0J/R?= =?utf-8?B?gNC4?=", "При"),
        # broken base64 padding
        ("=?utf-8?B?0J/RgNC40LLQtdGC?=", "Привет"),
        ("=?utf-8?B?0J/RgNC40LLQtdG?=", "Приве\ufffd"),
        # unknown or wrong charset labels fall back to detection
        ("=?x-unknown?B?8NLJ18XU?=", "Привет"),
        ("=?utf-8?B?z/Do4uXy?=", "Привет"),
        # RFC 2231 language suffix
        ("=?utf-8*ru?Q?=D0=94=D0=B0?=", "Да"),
        # malformed encoded words stay as they are
        ("=?utf-8?Q?broken", "=?utf-8?Q?broken"),
        ("=?utf-8?X?abc?=", "=?utf-8?X?abc?="),
        # folding and whitespace runs collapse
        ("Hello\r\n\tworld  again ", "Hello world again"),
        ("a\x00b", "ab"),
        ("", ""),
        (None, ""),
    ],
)
def test_decode_header_value(value, expected):
    assert decode_header_value(value) == expected


@pytest.mark.parametrize("codec", ["cp1251", "koi8-r", "utf-8"])
def test_decode_header_value_raw_8bit(codec):
    # what compat32 gives for an unencoded 8-bit header
    raw = "Re: Счёт на оплату".encode(codec).decode("ascii", "surrogateescape")
    assert decode_header_value(raw) == "Re: Счёт на оплату"
    assert (
        decode_header_value("Re: Счёт на оплату".encode(codec)) == "Re: Счёт на оплату"
    )


def test_decode_header_value_mixed_raw_and_encoded():
    raw = "Счёт".encode("cp1251").decode("ascii", "surrogateescape")
    value = f"{raw} =?utf-8?B?{_b('и акт')}?="
    assert decode_header_value(value) == "Счёт и акт"


def test_decode_header_value_header_object():
    assert decode_header_value(Header("Привет", "utf-8")) == "Привет"


@given(st.text(max_size=80))
@settings(max_examples=200, deadline=None)
def test_decode_header_value_roundtrips_encoded_text(text):
    expected = " ".join(text.replace("\x00", "").split())
    assert decode_header_value(f"=?utf-8?B?{_b(text)}?=") == expected


@given(st.text(max_size=80))
@settings(max_examples=200, deadline=None)
def test_decode_header_value_never_raises(value):
    assert isinstance(decode_header_value(value), str)


@pytest.mark.parametrize(
    ("data", "expected", "clean"),
    [
        (b"aGVsbG8=", b"hello", True),
        (b"aGVs\r\nbG8=\r\n", b"hello", True),
        (b"aGVsbG8", b"hello", False),  # padding missing
        (b"aGV*sb!G8", b"hello", False),  # junk characters
        (b"aGVsbG8=IHdvcmxk", b"hello world", False),  # glued blocks
        (b"aGVsbG8gd", b"hello ", False),  # dangling character
        (b"", b"", True),
    ],
)
def test_decode_b64_lenient(data, expected, clean):
    assert decode_b64_lenient(data) == (expected, clean)
