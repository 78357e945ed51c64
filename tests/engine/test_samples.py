"""The demo's sample mail: subjects match their text, PDFs open, and the
special samples parse as the product expects."""

import email
import email.policy

from devtools.samples import (
    KINDS,
    NOT_A_MAIL,
    auto_reply,
    make_pdf,
    newsletter_with_remote_images,
    sample_message,
    spam_offer,
)
from mail_engine.classify import classify
from mail_engine.mime import parse


def test_pdf_is_a_valid_document():
    pdf = make_pdf(["Invoice No. 7", "Quantity: (5) units"])
    assert pdf.startswith(b"%PDF-1.4\n") and pdf.rstrip().endswith(b"%%EOF")
    # the cross-reference table points at each object
    xref = int(pdf.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    assert pdf[xref:].startswith(b"xref\n0 6\n")
    offsets = [int(line[:10]) for line in pdf[xref:].split(b"\n")[3:8]]
    for number, offset in enumerate(offsets, start=1):
        assert pdf[offset:].startswith(b"%d 0 obj" % number)
    assert b"(Quantity: 5 units) Tj" in pdf


def test_each_subject_comes_with_its_text_and_file():
    seen = set()
    for index in range(60):
        msg = email.message_from_bytes(
            sample_message(index, "sales@demo.example"), policy=email.policy.default
        )
        subject = str(msg["Subject"])
        kind = next(
            k for k in KINDS if subject.startswith(k[0].split("{")[0].rstrip("№ "))
        )
        seen.add(kind[0])
        body = msg.get_body(("plain", "html")).get_content()
        assert kind[1].split("\n")[0].rstrip("!") in body
        files = [part.get_filename() for part in msg.iter_attachments()]
        assert files == ([kind[2][0]] if kind[2] else [])
        for part in msg.iter_attachments():
            assert part.get_content().startswith(b"%PDF-1.4")
    assert len(seen) == len(KINDS)


def test_special_samples():
    reply = parse(auto_reply("sales@demo.example"))
    assert reply.header("auto-submitted") == "auto-replied"
    assert classify(reply).auto_kind
    news = parse(newsletter_with_remote_images("sales@demo.example"))
    assert "https://track.vektor.example/open.gif" in news.body_html
    assert not NOT_A_MAIL.startswith(b"From") and b":" not in NOT_A_MAIL
    spam = parse(spam_offer("sales@demo.example"))
    assert classify(spam).is_spam
    assert spam.subject == "Базы клиентов за 990 рублей"
