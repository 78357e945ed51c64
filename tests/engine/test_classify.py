from mail_engine.classify import classify
from mail_engine.domains import company_name_from_domain, is_public_domain
from mail_engine.mime import parse


def mail(sender="ivan@romashka.example", subject="Заказ", headers=(), ctype=None):
    head = [
        f"From: {sender}",
        "To: sales@crm.test",
        f"Subject: {subject}",
        "Message-ID: <1@romashka.example>",
        *headers,
    ]
    if ctype:
        head.append(f"Content-Type: {ctype}")
    return parse(("\r\n".join(head) + "\r\n\r\nbody\r\n").encode())


def test_person():
    kind = classify(mail())
    assert (
        kind.auto_kind,
        kind.is_spam,
        kind.auth_failed,
        kind.is_own_notification,
    ) == (None, False, False, False)


def test_auto_reply():
    assert (
        classify(mail(headers=["Auto-Submitted: auto-replied"])).auto_kind
        == "auto_reply"
    )
    assert classify(mail(headers=["Auto-Submitted: no"])).auto_kind is None
    assert classify(mail(subject="Re: Автоответ: Re: заказ")).auto_kind == "auto_reply"
    assert classify(mail(subject="Out of Office: meeting")).auto_kind == "auto_reply"
    assert classify(mail(headers=["X-Autoreply: yes"])).auto_kind == "auto_reply"


def test_bounce_wins():
    kind = classify(
        mail(
            sender="MAILER-DAEMON@mx.yandex.ru",
            subject="Недоставленное сообщение",
            ctype='multipart/report; report-type=delivery-status; boundary="b"',
        )
    )
    assert kind.auto_kind == "bounce"
    assert "content-type:report" in kind.reasons


def test_bulk_and_noreply():
    assert (
        classify(mail(headers=["List-Unsubscribe: <mailto:u@x>"])).auto_kind == "bulk"
    )
    assert classify(mail(headers=["Precedence: bulk"])).auto_kind == "bulk"
    assert classify(mail(sender="no-reply@bank.example")).auto_kind == "noreply"
    assert classify(mail(sender="noreply+tag@bank.example")).auto_kind == "noreply"
    assert classify(mail(sender="norman@bank.example")).auto_kind is None


def test_spam_dmarc_own():
    assert classify(mail(headers=["X-Spam-Flag: YES"])).is_spam
    assert classify(mail(headers=["X-Spam-Status: Yes, score=9"])).is_spam
    assert classify(
        mail(headers=["Authentication-Results: mx; dmarc=fail (p=reject)"])
    ).auth_failed
    assert not classify(
        mail(headers=["Authentication-Results: mx; dmarc=pass"])
    ).auth_failed
    assert classify(mail(headers=["X-Odoo-Objects: res.partner-3"])).is_own_notification
    own = parse(
        b"From: a@b.example\r\nMessage-ID: <1.2-openerp-5-crm.lead@host>\r\n\r\nx"
    )
    assert classify(own).is_own_notification
    other = parse(b"From: a@b.example\r\nMessage-ID: <abc@odoo-host>\r\n\r\nx")
    assert classify(other, own_message_id_domains=("odoo-host",)).is_own_notification


def test_domains():
    assert is_public_domain("Mail.RU")
    assert is_public_domain("corp-mail.example", extra=["@corp-mail.example"])
    assert not is_public_domain("romashka.ru")
    assert company_name_from_domain("romashka.ru") == "Romashka"
    assert company_name_from_domain("mail.stroy-trest.com") == "Stroy-Trest"
    assert company_name_from_domain("shop.co.uk") == "Shop"
    assert company_name_from_domain("x.msk.ru") == "X"
