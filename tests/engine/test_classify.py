import base64

import pytest

from mail_engine.classify import AUTO_KINDS, Classification, classify
from mail_engine.domains import (
    PUBLIC_DOMAINS,
    company_name_from_domain,
    is_public_domain,
)
from mail_engine.mime import parse

PERSON = (None, False, False, False)


def word(text, charset="utf-8"):
    """An RFC 2047 encoded word, as real mailers write Russian subjects."""
    data = base64.b64encode(text.encode(charset)).decode()
    return f"=?{charset}?B?{data}?="


def raw(text, charset="utf-8"):
    """Raw bytes of a mail written with \\n line ends."""
    return text.lstrip("\n").replace("\n", "\r\n").encode(charset)


def mail(sender="ivan@romashka.example", subject="Заказ", headers=()):
    head = [
        f"From: {sender}",
        "To: sales@crm.test",
        f"Subject: {word(subject)}",
        "Message-ID: <1@romashka.example>",
        *headers,
    ]
    return parse(("\r\n".join(head) + "\r\n\r\nbody\r\n").encode())


def flags(kind):
    return (kind.auto_kind, kind.is_spam, kind.auth_failed, kind.is_own_notification)


# -- realistic mails --------------------------------------------------------

OUTLOOK_AUTOREPLY = raw(
    f"""
Received: from EXCH01.romashka.local (10.0.0.5) by EXCH02.romashka.local
 (10.0.0.6) with Microsoft SMTP Server id 15.1.2507.6; Tue, 5 Mar 2024
 10:12:03 +0300
From: {word("Петров Иван Сергеевич", "koi8-r")} <I.Petrov@romashka.ru>
To: "sales@crm.test" <sales@crm.test>
Subject: {word("Автоматический ответ: Коммерческое предложение", "koi8-r")}
Thread-Topic: {word("Коммерческое предложение", "koi8-r")}
Date: Tue, 5 Mar 2024 10:12:03 +0300
Message-ID: <a1b2c3d4e5f6@EXCH01.romashka.local>
In-Reply-To: <offer-17@crm.test>
Auto-Submitted: auto-generated
X-Auto-Response-Suppress: All
X-MS-Exchange-Inbox-Rules-Loop: I.Petrov@romashka.ru
Content-Language: ru-RU
Content-Type: text/plain; charset="koi8-r"
Content-Transfer-Encoding: 8bit
MIME-Version: 1.0

Добрый день!
Я в отпуске до 18 марта. По срочным вопросам звоните 8 (495) 123-45-67.
""",
    "koi8-r",
)

YANDEX_BOUNCE = raw(
    f"""
Return-Path: <>
From: mailer-daemon@yandex.ru
To: manager@yandex.ru
Subject: {word("Недоставленное сообщение")}
Date: Wed, 6 Mar 2024 14:02:11 +0300
Message-Id: <20240306140211.AB12CD@mxback3o.mail.yandex.net>
X-Yandex-Spam: 1
X-Failed-Recipients: no-such-user@romashka.ru
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="AB12CD.1709722931/mxback3o.mail.yandex.net"

--AB12CD.1709722931/mxback3o.mail.yandex.net
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: 8bit

Это письмо создано автоматически сервером Яндекс.Почты.
К сожалению, ваше письмо не может быть доставлено одному или нескольким
получателям:

no-such-user@romashka.ru: 550 5.7.1 No such user!

--AB12CD.1709722931/mxback3o.mail.yandex.net
Content-Type: message/delivery-status

Reporting-MTA: dns; mxback3o.mail.yandex.net
Arrival-Date: Wed, 6 Mar 2024 14:02:09 +0300

Final-Recipient: rfc822; no-such-user@romashka.ru
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.7.1 No such user!

--AB12CD.1709722931/mxback3o.mail.yandex.net
Content-Type: text/rfc822-headers

From: manager@yandex.ru
To: no-such-user@romashka.ru
Subject: =?utf-8?B?0KHRh9GR0YI=?=

--AB12CD.1709722931/mxback3o.mail.yandex.net--
"""
)

NEWSLETTER = raw(
    f"""
From: {word("Интернет-магазин «Стройка»")} <news@shop-stroyka.ru>
To: sales@crm.test
Subject: {word("Скидки до 50% на всё для ремонта")}
Date: Thu, 7 Mar 2024 09:00:00 +0300
Message-ID: <campaign-2024-03-07.5521@mailer.shop-stroyka.ru>
List-Unsubscribe: <https://shop-stroyka.ru/unsubscribe?u=5521>,
 <mailto:unsubscribe@shop-stroyka.ru?subject=5521>
List-Unsubscribe-Post: List-Unsubscribe=One-Click
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

Скидки до 50%!
--alt
Content-Type: text/html; charset=utf-8

<p>Скидки до <b>50%</b>!</p>
--alt--
"""
)

NOREPLY = raw(
    f"""
From: {word("Госуслуги")} <no-reply@gosuslugi.ru>
To: sales@crm.test
Subject: {word("Заявление принято в обработку")}
Date: Fri, 8 Mar 2024 11:00:00 +0300
Message-ID: <9f2e.77@gosuslugi.ru>
Content-Type: text/plain; charset=utf-8

Ваше заявление № 4512 принято.
"""
)

ODOO_NOTIFICATION = raw(
    f"""
From: {word("Мария Менеджер")} <maria@crm.test>
To: sales@crm.test
Subject: {word("Новая сделка: Поставка кирпича")}
Date: Fri, 8 Mar 2024 12:00:00 +0300
Message-Id: <417302855191403.1709888400.120833787-openerp-42-crm.lead@odoo-prod>
X-Odoo-Objects: crm.lead-42
Content-Type: text/html; charset=utf-8

<div>Вам назначена сделка «Поставка кирпича».</div>
"""
)

CUSTOMER = raw(
    f"""
Authentication-Results: mxfront1o.mail.yandex.net; spf=pass
 (mxfront1o.mail.yandex.net: domain of stroy-trest.ru designates 192.0.2.7
 as permitted sender) smtp.mail=a.smirnova@stroy-trest.ru;
 dkim=pass header.i=@stroy-trest.ru; dmarc=pass header.from=stroy-trest.ru
X-Spam-Flag: NO
X-Spam-Status: No, score=-1.2 required=5.0
X-Yandex-Spam: 1
From: {word("Анна Смирнова")} <A.Smirnova@Stroy-Trest.ru>
To: {word("Отдел продаж")} <sales@crm.test>
Subject: {word("Re: Счёт на оплату № 118 — нет на складе позиции 3?")}
Date: Mon, 11 Mar 2024 16:40:00 +0300
Message-ID: <CAF=abc123@mail.stroy-trest.ru>
In-Reply-To: <offer-18@crm.test>
X-Mailer: Microsoft Outlook 16.0
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="mix"

--mix
Content-Type: text/plain; charset=utf-8

Добрый день! Прошу выставить счёт. Автоответ не нужен :)
--mix
Content-Type: application/pdf; name="rekvizity.pdf"
Content-Disposition: attachment; filename="rekvizity.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--mix--
"""
)


def test_outlook_autoreply():
    kind = classify(parse(OUTLOOK_AUTOREPLY))
    assert flags(kind) == ("auto_reply", False, False, False)
    assert "header:auto-submitted" in kind.reasons
    assert "subject:out-of-office" in kind.reasons
    assert "header:x-auto-response-suppress" in kind.reasons


def test_yandex_bounce():
    parsed = parse(YANDEX_BOUNCE)
    assert parsed.subject == "Недоставленное сообщение"
    kind = classify(parsed)
    assert flags(kind) == ("bounce", False, False, False)
    assert set(kind.reasons) >= {
        "content-type:multipart-report",
        "sender:mailer-daemon",
        "header:x-failed-recipients",
        "subject:bounce",
    }


def test_newsletter():
    kind = classify(parse(NEWSLETTER))
    assert flags(kind) == ("bulk", False, False, False)
    assert kind.reasons == ("header:list-unsubscribe",)


def test_noreply_notification():
    kind = classify(parse(NOREPLY))
    assert flags(kind) == ("noreply", False, False, False)
    assert kind.reasons == ("sender:noreply",)


def test_odoo_notification():
    kind = classify(parse(ODOO_NOTIFICATION), own_message_id_domains=("odoo-prod",))
    assert flags(kind) == (None, False, False, True)
    assert kind.reasons == (
        "own:x-odoo-objects",
        "own:message-id-openerp",
        "own:message-id-domain",
    )


def test_customer_mail_is_a_person():
    kind = classify(parse(CUSTOMER), own_message_id_domains=("odoo-prod",))
    assert flags(kind) == PERSON
    assert kind.reasons == ()
    assert kind == Classification()


# -- auto_reply -------------------------------------------------------------


@pytest.mark.parametrize(
    "header, reason",
    [
        ("Auto-Submitted: auto-replied", "header:auto-submitted"),
        ("Auto-Submitted: auto-generated; owner-email=x@y", "header:auto-submitted"),
        ("X-Autoreply: yes", "header:x-autoreply"),
        ("X-Autorespond: Заказ", "header:x-autorespond"),
        ("Precedence: auto_reply", "header:precedence-auto-reply"),
    ],
)
def test_auto_reply_headers(header, reason):
    kind = classify(mail(headers=[header]))
    assert kind.auto_kind == "auto_reply"
    assert kind.reasons == (reason,)


def test_auto_submitted_no_is_a_person():
    assert classify(mail(headers=["Auto-Submitted: No"])).auto_kind is None


@pytest.mark.parametrize(
    "subject",
    [
        "Автоответ: Заказ",
        "АВТОМАТИЧЕСКИЙ ОТВЕТ: Счёт",
        "Нет на месте",
        "В отпуске до 10 мая",
        "Re: Автоответ: Re: заказ",
        "RE[2]: AW: Out of Office: meeting",
        "Out of the office",
        "Automatic reply: Invoice",
        "Auto-reply: order",
        "Autoreply",
        "Abwesenheitsnotiz: Angebot",
    ],
)
def test_auto_reply_subjects(subject):
    kind = classify(mail(subject=subject))
    assert kind.auto_kind == "auto_reply"
    assert kind.reasons == ("subject:out-of-office",)


@pytest.mark.parametrize(
    "subject",
    ["Вопрос про автоответ", "Re: Счёт, я в отпуске не был", "Outlook: сбой"],
)
def test_auto_reply_subject_must_start_the_subject(subject):
    assert classify(mail(subject=subject)).auto_kind is None


def test_auto_response_suppress_alone_is_not_an_auto_reply():
    # Outlook sets it on meeting requests and other ordinary mail
    for value in ("All", "OOF, AutoReply"):
        kind = classify(mail(headers=[f"X-Auto-Response-Suppress: {value}"]))
        assert kind.auto_kind is None
        assert kind.reasons == ()


# -- bounce -----------------------------------------------------------------


def test_bounce_by_content_type_only():
    kind = classify(
        mail(
            sender="robot@romashka.example",
            headers=["Content-Type: multipart/report; report-type=delivery-status"],
        )
    )
    assert kind.auto_kind == "bounce"
    assert kind.reasons == ("content-type:multipart-report",)


def test_bounce_by_raw_content_type():
    kind = classify(mail(), raw_content_type="Multipart/Report; boundary=x")
    assert kind.auto_kind == "bounce"


@pytest.mark.parametrize(
    "sender", ["MAILER-DAEMON@mx1.example.com", "postmaster@romashka.ru"]
)
def test_bounce_senders(sender):
    kind = classify(mail(sender=f"Mail Delivery System <{sender}>"))
    assert kind.auto_kind == "bounce"
    assert "sender:mailer-daemon" in kind.reasons


def test_bounce_failed_recipients_header():
    kind = classify(mail(headers=["X-Failed-Recipients: a@b.example"]))
    assert kind.reasons == ("header:x-failed-recipients",)


@pytest.mark.parametrize(
    "subject",
    [
        "Undelivered Mail Returned to Sender",
        "Delivery Status Notification (Failure)",
        "Mail delivery failed: returning message to sender",
        "Undeliverable: Заказ",
        "Returned mail: see transcript for details",
        "failure notice",
        "Недоставленное сообщение",
        "Не удается доставить: Счёт",
    ],
)
def test_bounce_subjects(subject):
    kind = classify(mail(sender="robot@relay.example", subject=subject))
    assert kind.auto_kind == "bounce"
    assert kind.reasons == ("subject:bounce",)


def test_person_replying_about_a_bounce():
    subject = "Re: Undelivered Mail Returned to Sender"
    assert classify(mail(subject=subject)).auto_kind is None


def test_postmaster_must_be_the_whole_local_part():
    assert classify(mail(sender="postmaster.ivan@romashka.ru")).auto_kind is None


# -- bulk -------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, reason",
    [
        ("Precedence: bulk", "header:precedence-bulk"),
        ("Precedence: junk", "header:precedence-bulk"),
        ("Precedence: list", "header:precedence-bulk"),
        ("List-Id: <sales.lists.example>", "header:list-id"),
        ("List-Unsubscribe: <mailto:u@x.example>", "header:list-unsubscribe"),
        ("X-Campaign: mailchimp1a2b3c.4d5e", "header:x-campaign"),
        ("X-CampaignID: mailchimp1a2b3c", "header:x-campaignid"),
        ("X-MC-User: 1a2b3c4d", "header:mailchimp"),
        ("X-Mailchimp-Campaign: 42", "header:mailchimp"),
    ],
)
def test_bulk_headers(header, reason):
    kind = classify(mail(headers=[header]))
    assert kind.auto_kind == "bulk"
    assert kind.reasons == (reason,)


def test_precedence_first_class_is_no_bulk():
    assert classify(mail(headers=["Precedence: first-class"])).auto_kind is None


# -- noreply ----------------------------------------------------------------


@pytest.mark.parametrize(
    "local",
    [
        "no-reply",
        "noreply",
        "NoReply",
        "no_reply",
        "no.reply",
        "do-not-reply",
        "donotreply",
        "do_not_reply",
        "notification",
        "notifications",
        "mailer",
        "noreply+orders",
        "no-reply.billing",
        "notifications-sales",
    ],
)
def test_noreply_senders(local):
    kind = classify(mail(sender=f"{local}@bank.example"))
    assert kind.auto_kind == "noreply"


@pytest.mark.parametrize(
    "local", ["norman", "reply", "ivan.noreply", "mailerman", "notify", "nonreply"]
)
def test_noreply_is_anchored(local):
    assert classify(mail(sender=f"{local}@bank.example")).auto_kind is None


# -- precedence of kinds ----------------------------------------------------


def test_kind_precedence():
    everything = [
        "Content-Type: multipart/report; report-type=delivery-status",
        "Auto-Submitted: auto-replied",
        "Precedence: bulk",
    ]
    cases = [
        (everything, "bounce"),
        (everything[1:], "auto_reply"),
        (everything[2:], "bulk"),
        ([], "noreply"),
    ]
    for headers, expected in cases:
        kind = classify(mail(sender="noreply@shop.example", headers=headers))
        assert kind.auto_kind == expected
    assert AUTO_KINDS == ("bounce", "auto_reply", "bulk", "noreply")
    # every kind found is listed, strongest first
    kind = classify(mail(sender="noreply@shop.example", headers=everything))
    assert kind.reasons == (
        "content-type:multipart-report",
        "header:auto-submitted",
        "header:precedence-bulk",
        "sender:noreply",
    )


# -- spam, DMARC ------------------------------------------------------------


@pytest.mark.parametrize(
    "header, reason",
    [
        ("X-Spam-Flag: YES", "spam:x-spam-flag"),
        ("X-Spam-Status: Yes, score=9.1 required=5.0", "spam:x-spam-status"),
        ("X-Spam: Yes", "spam:x-spam"),
    ],
)
def test_spam_headers(header, reason):
    kind = classify(mail(headers=[header]))
    assert kind.is_spam
    assert kind.auto_kind is None
    assert kind.reasons == (reason,)


@pytest.mark.parametrize(
    "header",
    [
        "X-Spam-Flag: NO",
        "X-Spam-Status: No, score=1.0",
        "X-Spam: No",
        "X-Yandex-Spam: 1",
        "X-Yandex-Spam: 4",  # undocumented values: ignored on purpose
        "X-Mailru-Msgtype: 1",
        "X-Spam-Status: Yesterday",  # only the verdict word counts
    ],
)
def test_not_spam(header):
    assert not classify(mail(headers=[header])).is_spam


def test_any_spam_flag_counts():
    # a forged "NO" added first by the sender does not hide the filter's YES
    kind = classify(mail(headers=["X-Spam-Flag: NO", "X-Spam-Flag: YES"]))
    assert kind.is_spam


@pytest.mark.parametrize(
    "values, failed",
    [
        (["mx.yandex.ru; spf=pass; dkim=pass; dmarc=fail (p=reject)"], True),
        (["mx; DMARC=FAIL header.from=bank.example"], True),
        (["mx; dmarc = fail"], True),
        (["mx; dmarc=pass", "relay; dmarc=fail"], True),
        (["mx; dmarc=pass"], False),
        (["mx; dmarc=failed"], False),
        (["mx; spf=fail; dkim=fail"], False),
        (["mx; xdmarc=fail"], False),
    ],
)
def test_dmarc(values, failed):
    headers = [f"Authentication-Results: {value}" for value in values]
    kind = classify(mail(headers=headers))
    assert kind.auth_failed is failed
    assert ("auth:dmarc-fail" in kind.reasons) is failed
    assert kind.auto_kind is None


# -- own notifications ------------------------------------------------------


def own_mail(message_id, headers=()):
    head = ["From: a@b.example", f"Message-ID: {message_id}", *headers]
    return parse(("\r\n".join(head) + "\r\n\r\nx").encode())


def test_own_by_x_odoo_objects():
    kind = classify(own_mail("<1@b.example>", ["X-Odoo-Objects: res.partner-3"]))
    assert kind.is_own_notification
    assert kind.reasons == ("own:x-odoo-objects",)


def test_own_by_openerp_message_id():
    kind = classify(own_mail("<1709888400.120833787-openerp-5-crm.lead@host>"))
    assert kind.is_own_notification
    assert kind.reasons == ("own:message-id-openerp",)


def test_own_by_message_id_domain():
    parsed = own_mail("<abc@Odoo-Host>")
    assert classify(parsed, own_message_id_domains=("odoo-host",)).is_own_notification
    assert classify(parsed, own_message_id_domains="odoo-host").is_own_notification
    assert not classify(parsed).is_own_notification
    assert not classify(
        parsed, own_message_id_domains=("other-host", "")
    ).is_own_notification
    # a sub-string of a host is another host
    assert not classify(
        own_mail("<abc@host>"), own_message_id_domains="odoo-host"
    ).is_own_notification


def test_reply_to_odoo_mail_is_not_own():
    parsed = own_mail(
        "<reply-1@b.example>",
        ["In-Reply-To: <1.2-openerp-5-crm.lead@odoo-host>"],
    )
    assert not classify(
        parsed, own_message_id_domains=("odoo-host",)
    ).is_own_notification


def test_mail_without_sender_or_message_id():
    parsed = parse(b"Subject: hello\r\n\r\nbody")
    assert flags(classify(parsed)) == PERSON


# -- domains ----------------------------------------------------------------


@pytest.mark.parametrize(
    "domain",
    ["gmail.com", "Mail.RU", "bk.ru", "yandex.ru", "ya.ru", "rambler.ru",
     "outlook.com", "icloud.com", "proton.me", "ukr.net", "tut.by", "mail.com",
     "ivan@Yandex.Ru", "gmail.com."],
)  # fmt: skip
def test_public_domains(domain):
    assert is_public_domain(domain)


def test_public_domains_list():
    brief = (
        "gmail.com googlemail.com mail.ru bk.ru list.ru inbox.ru internet.ru "
        "yandex.ru ya.ru yandex.com narod.ru rambler.ru lenta.ru autorambler.ru "
        "myrambler.ru ro.ru outlook.com hotmail.com live.com msn.com icloud.com "
        "me.com mac.com yahoo.com aol.com proton.me protonmail.com gmx.de gmx.net "
        "web.de zoho.com ukr.net i.ua meta.ua tut.by mail.com"
    ).split()
    assert set(brief) <= PUBLIC_DOMAINS
    assert all(d == d.lower().strip() for d in PUBLIC_DOMAINS)


def test_not_public_domains():
    assert not is_public_domain("romashka.ru")
    assert not is_public_domain("mail.romashka.ru")  # a subdomain is no provider
    assert not is_public_domain("")
    assert not is_public_domain(None)


def test_extra_public_domains():
    assert is_public_domain("corp-mail.example", extra=["@Corp-Mail.example"])
    assert is_public_domain("b.example", extra="a.example, b.example\nc.example")
    assert not is_public_domain("d.example", extra=["a.example", ""])


@pytest.mark.parametrize(
    "domain, name",
    [
        ("romashka.ru", "Romashka"),
        ("mail.stroy-trest.com", "Stroy-Trest"),
        ("www.romashka.ru", "Romashka"),
        ("mx.romashka.ru", "Romashka"),
        ("www.mail.romashka.ru", "Romashka"),
        ("romashka.com.ru", "Romashka"),
        ("shop.co.uk", "Shop"),
        ("sales.shop.co.uk", "Shop"),
        ("zavod.msk.ru", "Zavod"),
        ("zavod.spb.ru", "Zavod"),
        ("kiev-steel.com.ua", "Kiev-Steel"),
        ("sub.romashka.ru", "Romashka"),
        ("ivan@Mail.Stroy-Trest.com", "Stroy-Trest"),
        ("xn--80aa3agjl3d.xn--p1ai", "Ромашка"),
        ("ромашка.рф", "Ромашка"),
        ("mail.ru", "Mail"),
        ("localhost", "Localhost"),
        ("", ""),
    ],
)
def test_company_name_from_domain(domain, name):
    assert company_name_from_domain(domain) == name
