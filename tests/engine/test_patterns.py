import re

import pytest

from mail_engine.patterns import (
    PatternError,
    bounded_search,
    compile_pattern,
    first_match,
    matches,
)


def test_kinds():
    assert compile_pattern("Ivan@Spam.Example").kind == "address"
    assert compile_pattern("@spam.example").kind == "domain"
    assert compile_pattern("spam.example").kind == "domain"
    assert compile_pattern("*@*.spam.example").kind == "wildcard"
    assert compile_pattern("/^ads[0-9]+@/").kind == "regex"
    assert compile_pattern("re:^ads").kind == "regex"


def test_matching():
    assert matches(compile_pattern("ivan@spam.example"), "ivan@spam.example")
    assert not matches(compile_pattern("ivan@spam.example"), "petr@spam.example")
    domain = compile_pattern("@spam.example")
    assert matches(domain, "a@spam.example")
    assert matches(domain, "a@mx.spam.example")
    assert not matches(domain, "a@notspam.example")
    assert not matches(
        compile_pattern("@spam.example", subdomains=False), "a@mx.spam.example"
    )
    assert matches(compile_pattern("*@*.bulk.example"), "x@mx.bulk.example")
    assert matches(compile_pattern("/^ads[0-9]+@/"), "ADS12@shop.example")
    patterns = [compile_pattern("@a.example"), compile_pattern("b@b.example")]
    assert first_match(patterns, "b@b.example") is patterns[1]
    assert first_match(patterns, "c@c.example") is None


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "/(a+)+$/",
        "/(a*)*/",
        "/(.*)*x/",
        r"/(\w+\s?)+$/",
        "/[unclosed/",
        "/" + "a" * 600 + "/",
    ],
)
def test_refused(bad):
    with pytest.raises(PatternError):
        compile_pattern(bad)


def test_bounded_search_on_huge_text():
    text = "x" * (10 * 1024 * 1024) + "заказ"
    assert not bounded_search(re.compile("заказ"), text)
    assert bounded_search(re.compile("заказ"), "Новый заказ")
