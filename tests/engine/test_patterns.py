import re

import pytest

from mail_engine.exceptions import MailEngineError
from mail_engine.patterns import (
    MAX_ADDRESS,
    MAX_PATTERN,
    PatternError,
    SenderPattern,
    bounded_search,
    check_regex,
    compile_pattern,
    first_match,
    matches,
)

# -- compile_pattern --------------------------------------------------------


@pytest.mark.parametrize(
    "text, kind, value",
    [
        ("Ivan@Spam.Example", "address", "ivan@spam.example"),
        ("  Иван <Ivan@Spam.Example> ", "address", "ivan@spam.example"),
        ("@Spam.Example", "domain", "spam.example"),
        ("spam.example", "domain", "spam.example"),
        ("спам.рф", "domain", "спам.рф"),
        ("*@*.Spam.Example", "wildcard", "*@*.spam.example"),
        ("ads?@shop.example", "wildcard", "ads?@shop.example"),
        ("/^ads[0-9]+@/", "regex", "^ads[0-9]+@"),
        ("re:^ads", "regex", "^ads"),
        ("RE: ^ads", "regex", "^ads"),
    ],
)
def test_kinds(text, kind, value):
    assert compile_pattern(text) == SenderPattern(kind, value, True)


def test_subdomains_flag_is_kept():
    assert compile_pattern("spam.example", subdomains=False).subdomains is False
    assert compile_pattern("spam.example").subdomains is True


@pytest.mark.parametrize(
    "bad, code",
    [
        ("", "empty"),
        ("   ", "empty"),
        (None, "empty"),
        ("//", "empty"),
        ("re:", "empty"),
        ("x" * (MAX_PATTERN + 1), "too_long"),
        ("/" + "a" * MAX_PATTERN + "/", "too_long"),
        ("/[unclosed/", "invalid_regex"),
        ("re:a{2,1}", "invalid_regex"),
        ("re:(?P<x>a)(?P<x>b)", "invalid_regex"),
        ("a@b@c.example", "invalid_address"),
        ("ivan @spam.example", "invalid_address"),
        ("spam example", "invalid_domain"),
        ("@", "invalid_domain"),
        ("spam..example", "invalid_domain"),
        ("-spam.example", "invalid_domain"),
    ],
)
def test_refused(bad, code):
    with pytest.raises(PatternError) as info:
        compile_pattern(bad)
    assert info.value.code == code
    assert str(info.value)  # a message for the user
    assert isinstance(info.value, MailEngineError)


def test_longest_pattern_is_accepted():
    pattern = compile_pattern("a" * (MAX_PATTERN - 8) + ".example")
    assert pattern.kind == "domain"


# -- pathological regexes ---------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "(a+)+$",
        "(a*)*",
        "(.*)*x",
        r"(\w+\s?)+$",
        "(a+){2,50}b",
        "(?:x+y*)+z",
        "((ab)+c)*",
        "(?=(a+)+$)",
        r"^([a-z]+\.)+example\.com$",  # refused too: the check is conservative
    ],
)
def test_nested_quantifiers_refused(source):
    with pytest.raises(PatternError) as info:
        compile_pattern(f"/{source}/")
    assert info.value.code == "nested_quantifier"
    assert info.value.detail == source


@pytest.mark.parametrize(
    "source", ["(a|a)*", "(a|aa)*b", "(x|.)*y", "(a|b|ab)*c", "(?:a|a?)+b"]
)
def test_overlapping_alternations_refused(source):
    with pytest.raises(PatternError) as info:
        check_regex(source)
    assert info.value.code == "ambiguous_alternation"


@pytest.mark.parametrize(
    "source",
    [
        "^ads[0-9]+@",
        r"^(info|sales|support)@",
        r"@(mail|bk|list)\.ru$",
        "(foo|bar)+",
        "(a|ab)*c",
        "(com|co)+",
        r"(\w|\d)+",
        "a{2,5}b+",
        "(?:abc){3}",
        "(a?){5}",
        r"^[^@]+@(?!romashka\.ru$)",
        r"\d{6,}@",
    ],
)
def test_harmless_regexes_accepted(source):
    compiled = check_regex(source)
    assert compiled.flags & re.IGNORECASE
    assert compile_pattern(f"re:{source}").kind == "regex"


def test_safe_lookalike_is_accepted_and_fast():
    # the refused shape is the classic exponential one; on the bounded input
    # an accepted look-alike finishes at once
    assert matches(compile_pattern(r"/^(a|b)+c$/"), "ab" * 200 + "@x.example") is False
    with pytest.raises(PatternError):
        compile_pattern(r"/^(a+)+c$/")


# -- matching ---------------------------------------------------------------


def test_address_matching():
    pattern = compile_pattern("ivan@spam.example")
    assert matches(pattern, "ivan@spam.example")
    assert matches(pattern, "Иван Петров <IVAN@Spam.Example>")
    assert not matches(pattern, "petr@spam.example")
    assert not matches(pattern, "ivan@spam.example.org")
    assert not matches(pattern, "")
    assert not matches(pattern, None)


def test_domain_matching():
    domain = compile_pattern("@spam.example")
    assert matches(domain, "a@spam.example")
    assert matches(domain, "a@MX.Spam.Example")
    assert not matches(domain, "a@notspam.example")
    assert not matches(domain, "a@spam.example.org")
    exact = compile_pattern("spam.example", subdomains=False)
    assert matches(exact, "a@spam.example")
    assert not matches(exact, "a@mx.spam.example")


def test_wildcard_matching():
    pattern = compile_pattern("*@*.bulk.example")
    assert matches(pattern, "x@mx.bulk.example")
    assert matches(pattern, "X@MX.Bulk.Example")
    assert not matches(pattern, "x@bulk.example")
    single = compile_pattern("ads?@shop.example")
    assert matches(single, "ads1@shop.example")
    assert not matches(single, "ads12@shop.example")
    # against the whole address: no implicit "contains"
    assert not matches(compile_pattern("ads*"), "news-ads@shop.example")


def test_regex_matching():
    pattern = compile_pattern("/^ads[0-9]+@/")
    assert matches(pattern, "ADS12@shop.example")
    assert not matches(pattern, "news@shop.example")
    assert matches(compile_pattern(r"re:@(mail|bk)\.ru$"), "Петя <petya@BK.ru>")


def test_matching_is_bounded_to_an_address_length():
    pattern = compile_pattern("re:x$")
    long_local = "a" * (MAX_ADDRESS + 100) + "x"
    assert not matches(pattern, long_local)  # the tail is never looked at
    assert matches(pattern, "a" * (MAX_ADDRESS - 1) + "x")


def test_first_match():
    patterns = [
        compile_pattern("@a.example"),
        compile_pattern("b@b.example"),
        compile_pattern("*@b.example"),
    ]
    assert first_match(patterns, "B@b.example") is patterns[1]
    assert first_match(patterns, "x@b.example") is patterns[2]
    assert first_match(patterns, "x@mx.a.example") is patterns[0]
    assert first_match(patterns, "c@c.example") is None
    assert first_match([], "c@c.example") is None
    assert first_match(patterns, "") is None


def test_unknown_kind():
    with pytest.raises(ValueError):
        matches(SenderPattern("other", "x"), "a@b.example")


# -- bounded_search ---------------------------------------------------------


def test_bounded_search_on_huge_text():
    text = "x" * (10 * 1024 * 1024) + "заказ"
    assert len(text) > 10_000_000
    assert not bounded_search(re.compile("заказ"), text)
    assert bounded_search(re.compile("заказ"), text, limit=len(text))
    assert bounded_search(re.compile("заказ"), "Новый заказ")
    # an accepted user expression on 10 MB: only the first 64 KB are searched
    assert not bounded_search(check_regex(r"(счёт|заказ)\s*№\s*\d+"), text)


def test_bounded_search_limit_and_sources():
    assert bounded_search(re.compile("b"), "aab", limit=3)
    assert not bounded_search(re.compile("b"), "aab", limit=2)
    assert not bounded_search(re.compile("a"), "aab", limit=-1)
    assert not bounded_search(re.compile("a"), None)
    assert bounded_search("ЗАКАЗ", "новый заказ")  # checked, case-insensitive
    with pytest.raises(PatternError):
        bounded_search("(a+)+", "aaaa")
