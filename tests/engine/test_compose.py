"""Pure composer helpers: subjects, recipients, threading, header checks."""

import pytest
from lxml import html as lxml_html

from mail_engine import compose
from mail_engine.compose import HeaderInjectionError


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Offer", "Re: Offer"),
        ("Re: Offer", "Re: Offer"),
        ("RE: Offer", "RE: Offer"),
        ("re:Offer", "re:Offer"),
        ("Ответ: Счёт", "Ответ: Счёт"),
        ("RE[2]: Offer", "RE[2]: Offer"),
        ("Fwd: Offer", "Re: Fwd: Offer"),
        ("Rebate", "Re: Rebate"),
        ("", "Re:"),
        (None, "Re:"),
    ],
)
def test_reply_subject(subject, expected):
    assert compose.reply_subject(subject) == expected


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Offer", "Fwd: Offer"),
        ("Fwd: Offer", "Fwd: Offer"),
        ("FW: Offer", "FW: Offer"),
        ("Пересл: Счёт", "Пересл: Счёт"),
        ("Re: Offer", "Fwd: Re: Offer"),
        ("Forward plan", "Fwd: Forward plan"),
        ("", "Fwd:"),
    ],
)
def test_forward_subject(subject, expected):
    assert compose.forward_subject(subject) == expected


def test_lead_token_added_once_and_found():
    subject = compose.add_lead_token("Offer", 42)
    assert subject == "Offer [#L42]"
    assert compose.add_lead_token(subject, 42) == subject
    assert compose.add_lead_token("Re: " + subject, 42) == "Re: Offer [#L42]"
    assert compose.find_lead_ids("Re: Offer [#L42] and [#L7]") == [42, 7]
    assert compose.find_lead_ids("Offer [#l42] [#Lx]") == []
    assert compose.find_lead_ids(None) == []


def test_references_chain_and_cap():
    assert compose.references_for("", "<a@x>") == "<a@x>"
    assert compose.references_for("<a@x> <b@x>", "<c@x>") == "<a@x> <b@x> <c@x>"
    assert compose.references_for("<a@x>\r\n <b@x>", "<b@x>") == "<a@x> <b@x>"
    assert compose.references_for(None, None) == ""
    many = " ".join(f"<{i}@x>" for i in range(40))
    ids = compose.references_for(many, "<last@x>").split()
    assert len(ids) == compose.MAX_REFERENCES
    assert ids[0] == "<0@x>" and ids[-1] == "<last@x>" and ids[-2] == "<39@x>"


def test_reply_recipients():
    own = ["sales@our.ru"]
    to, cc = compose.reply_recipients(
        "Ivan <ivan@client.ru>", "", "sales@our.ru, Olga <olga@client.ru>", "", own
    )
    assert (to, cc) == ("Ivan <ivan@client.ru>", "")
    to, cc = compose.reply_recipients(
        "Ivan <ivan@client.ru>",
        "orders@client.ru",
        "Sales@Our.ru, Olga <olga@client.ru>",
        "boss@client.ru, ivan@client.ru",
        own,
        reply_all=True,
    )
    assert to == "orders@client.ru, Olga <olga@client.ru>"
    assert cc == "boss@client.ru, ivan@client.ru"


@pytest.mark.parametrize("value", ["a\r\nBcc: x@y", "a\nb", "a\rb", "a\0b"])
def test_header_injection_refused(value):
    with pytest.raises(HeaderInjectionError):
        compose.check_header_value(value, "Subject")


def test_header_value_ok():
    compose.check_header_value("Привет, мир: offer #1", "Subject")
    compose.check_header_value("", "Subject")
    compose.check_header_value(None, "Subject")


def test_quote_and_forward_escape_the_intro():
    quoted = compose.quote_html("<p>Body</p>", "Ivan <ivan@x.ru> wrote:")
    tree = lxml_html.fragment_fromstring(quoted, create_parent="div")
    assert tree.xpath("string(p)") == "Ivan <ivan@x.ru> wrote:"
    assert tree.xpath("string(blockquote/p)") == "Body"
    forwarded = compose.forward_html(
        "<p>Body</p>", "Forwarded", [("From", "<script>x</script>")]
    )
    assert "<script>" not in forwarded
    assert "&lt;script&gt;" in forwarded


def test_invalid_entries():
    from mail_engine.addresses import invalid_entries

    assert invalid_entries("a@x.ru, Ivan <ivan@client.ru>; b@y.com") == []
    assert invalid_entries('"Doe, John" <john@x.ru>') == []
    assert invalid_entries("a@x.ru, ivan, b@") == ["ivan", "b@"]
    assert invalid_entries("") == []
    assert invalid_entries(None) == []


def test_signature_set_replaced_and_removed():
    body = compose.set_signature("<p>Hello</p>", "<p>Anna, sales</p>")
    assert body.startswith("<p>Hello</p>")
    assert compose.SIGNATURE_CLASS in body and "Anna, sales" in body
    body = compose.set_signature(body + "<blockquote>old</blockquote>", "<p>Boris</p>")
    assert "Anna" not in body and "Boris" in body
    assert body.index("Boris") < body.index("<blockquote>")
    body = compose.set_signature(body, "")
    assert compose.SIGNATURE_CLASS not in body and "Boris" not in body
    assert "<p>Hello</p>" in body and "<blockquote>old</blockquote>" in body
    assert compose.set_signature("<p>x</p>", "<p><br></p>") == "<p>x</p>"
    assert "Anna" in compose.set_signature("", "<p>Anna</p>")


def test_has_text_ignores_the_signature():
    signed = compose.set_signature("<p><br/></p>", "<p>Anna, sales</p>")
    assert not compose.has_text(signed)
    assert not compose.has_text("")
    assert compose.has_text(compose.set_signature("<p>Добрый день</p>", "<p>Anna</p>"))
    assert compose.has_text("<blockquote>quoted</blockquote>")
