"""Realistic sample mail for the demo (and benchmarks): Russian and English,
plain and HTML, koi8-r / cp1251 / utf-8, PDF attachments that open, and the
mail a sales mailbox also gets: an auto-reply, a newsletter with remote
images, a message that is not a mail at all (quarantined)."""

import random
from datetime import datetime, timedelta, timezone
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr

SENDERS = [
    ("Иван Петров", "ivan.petrov@romashka.example", "ООО Ромашка"),
    ("Мария Сидорова", "m.sidorova@vektor.example", "АО Вектор"),
    ("Олег Смирнов", "oleg.smirnov@gmail.com", None),
    ("John Carter", "john@acme.example", "ACME Corp"),
    ("Анна Кузнецова", "anna@stroytrest.example", "Стройтрест"),
]
#: what customers write: subject, body and the PDF that comes with it (its
#: file name and the lines printed in it), always matching each other
KINDS = [
    (
        "Запрос коммерческого предложения",
        "Добрый день!\n\nПрошу выслать коммерческое предложение на {n} единиц "
        "с учётом доставки.\n\nС уважением,\n{name}",
        None,
    ),
    (
        "Счёт на оплату №{i}",
        "Здравствуйте!\n\nВо вложении счёт на оплату №{i} на {n} единиц. "
        "Просим оплатить до пятницы.\n\n{name}",
        ("счёт.pdf", ["Invoice No. {i}", "Quantity: {n} units", "Due: Friday"]),
    ),
    (
        "Заказ оборудования",
        "Добрый день!\n\nХотим заказать {n} единиц оборудования. Спецификация во "
        "вложении, просим подтвердить сроки.\n\n{name}",
        ("спецификация.pdf", ["Specification", "Equipment: {n} units"]),
    ),
    (
        "Price request for {n} units",
        "Hello,\n\nplease send us your best price for {n} units, delivery "
        "included.\n\nRegards,\n{name}",
        None,
    ),
    (
        "Вопрос по доставке",
        "Здравствуйте!\n\nПодскажите, когда придёт заказ №{i}? Нам нужно {n} "
        "единиц к концу месяца.\n\n{name}",
        None,
    ),
    (
        "Re: Договор поставки",
        "Добрый день!\n\nДоговор подписали, скан во вложении.\n\n{name}\n\n"
        "> Направляем договор поставки на {n} единиц для подписания.",
        ("договор.pdf", ["Supply contract", "Quantity: {n} units", "Signed"]),
    ),
]
CHARSETS = ["utf-8", "koi8-r", "cp1251"]


def make_pdf(lines):
    """A small valid PDF (one A4 page) that prints ``lines``.

    :param list lines: ASCII text lines (the standard Helvetica font has no
        Cyrillic; a viewer shows them as written)
    :return: the PDF as bytes
    """
    text = "".join(
        f"({line.replace(chr(92), '').replace('(', '').replace(')', '')}) Tj 0 -28 Td "
        for line in lines
    )
    stream = f"BT /F1 18 Tf 72 770 Td {text}ET".encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _headers(msg, sender, to_address, subject, charset, date, message_id):
    name, address = sender
    msg["From"] = formataddr((str(Header(name, charset)), address))
    msg["To"] = to_address
    msg["Subject"] = Header(subject, charset)
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = message_id
    return msg


def _as_bytes(msg, kind, index, rng, sender, to_address, subject, charset, date):
    """The generated mail with its headers, as bytes."""
    message_id = f"<{kind}-{index}-{rng.getrandbits(40):x}@{sender[1].split('@')[1]}>"
    return _headers(
        msg, sender, to_address, subject, charset, date, message_id
    ).as_bytes()


def _with_pdf(text_part, filename, lines):
    """A multipart/mixed mail of ``text_part`` and a PDF printing ``lines``."""
    msg = MIMEMultipart("mixed")
    msg.attach(text_part)
    pdf = MIMEApplication(make_pdf(lines), "pdf")
    pdf.add_header(
        "Content-Disposition", "attachment", filename=("utf-8", "", filename)
    )
    msg.attach(pdf)
    return msg


def sample_message(index, to_address, rng=None, now=None, sender=None):
    """Build one realistic message as bytes.

    :param int index: a number that makes the message unique
    :param str to_address: the recipient (the demo mailbox)
    :param random.Random rng: source of randomness (seeded for repeatability)
    :param datetime now: the newest date
    :param tuple sender: (name, address, company) to use instead of a random one
    """
    rng = rng or random.Random(index)
    now = now or datetime.now(timezone.utc)
    name, address, _company = sender or rng.choice(SENDERS)
    subject, body, attachment = rng.choice(KINDS)
    values = {"i": index, "n": rng.randint(2, 500), "name": name}
    subject, body = subject.format(**values), body.format(**values)
    charset = "utf-8" if body.isascii() else rng.choice(CHARSETS)
    try:
        (subject + body + name).encode(charset)
    except UnicodeEncodeError:  # koi8-r has no "№"
        charset = "utf-8"
    if rng.random() < 0.4:
        paragraphs = "".join(f"<p>{line}</p>" for line in body.split("\n") if line)
        text_part = MIMEText(f"<html><body>{paragraphs}</body></html>", "html", charset)
    else:
        text_part = MIMEText(body, "plain", charset)
    if attachment:
        filename, lines = attachment
        msg = _with_pdf(text_part, filename, [line.format(**values) for line in lines])
    else:
        msg = text_part
    date = now - timedelta(minutes=37 * index)
    return _as_bytes(
        msg, "sample", index, rng, (name, address), to_address, subject, charset, date
    )


def mixed_message(index, to_address, rng, sender, now=None):
    """One mail of the benchmark's second corpus: HTML-heavy (three in four
    are HTML with a plain alternative, their HTML carrying styles, inline
    scripts and event handlers the sanitizer removes), a 2 KB PDF in one
    in four, koi8-r / cp1251 / utf-8.

    :param tuple sender: (name, address)
    """
    now = now or datetime.now(timezone.utc)
    name, address = sender
    subject, body, attachment = rng.choice(KINDS)
    values = {"i": index, "n": rng.randint(2, 500), "name": name}
    subject, body = subject.format(**values), body.format(**values)
    charset = rng.choice(CHARSETS)
    try:
        (subject + body + name).encode(charset)
    except UnicodeEncodeError:  # koi8-r has no "№"
        charset = "utf-8"
    if rng.random() < 0.75:
        paragraphs = "".join(
            f'<p style="margin:0 0 8px;font-family:Arial" onclick="track({index})">'
            f"{line}</p>"
            for line in body.split("\n")
            if line
        )
        html = (
            "<html><head><style>p{color:#333}</style>"
            f"<script>window.t={index};fetch('https://t.example/o?i={index}')</script>"
            f'</head><body onload="init()"><div class="mail">{paragraphs}</div>'
            '<table width="100%"><tr><td><a href="https://shop.example/?utm=mail">'
            "Каталог</a></td></tr></table>"
            f'<img src="https://t.example/p.gif?i={index}" width="1" height="1">'
            "</body></html>"
        )
        text_part = MIMEMultipart("alternative")
        text_part.attach(MIMEText(body, "plain", charset))
        text_part.attach(MIMEText(html, "html", charset))
    else:
        text_part = MIMEText(body, "plain", charset)
    if rng.random() < 0.25:
        filename, lines = attachment or KINDS[1][2]
        lines = [line.format(**values) for line in lines]
        # an invoice's item lines: about 2 KB of PDF
        lines += [f"Item {k}: {rng.randint(1, 999)} units" for k in range(40)]
        msg = _with_pdf(text_part, filename, lines)
    else:
        msg = text_part
    date = now - timedelta(minutes=11 * index)
    return _as_bytes(
        msg, "mix", index, rng, (name, address), to_address, subject, charset, date
    )


def auto_reply(to_address, now=None):
    """An out-of-office answer (``Auto-Submitted: auto-replied``): stored and
    marked as such, never a new lead."""
    now = now or datetime.now(timezone.utc)
    msg = MIMEText(
        "Здравствуйте!\n\nЯ в отпуске до понедельника. По срочным вопросам "
        "пишите info@romashka.example.\n\nИван Петров",
        "plain",
        "utf-8",
    )
    msg["Auto-Submitted"] = "auto-replied"
    return _headers(
        msg,
        ("Иван Петров", "ivan.petrov@romashka.example"),
        to_address,
        "Автоответ: Re: Счёт на оплату",
        "utf-8",
        now - timedelta(minutes=5),
        "<autoreply-1@romashka.example>",
    ).as_bytes()


def newsletter_with_remote_images(to_address, now=None):
    """An HTML newsletter whose images (one a tracking pixel) are on the
    sender's server: shown blocked until the reader asks."""
    now = now or datetime.now(timezone.utc)
    html = (
        "<html><body><h2>Новинки каталога</h2>"
        '<p><img src="https://news.vektor.example/banner.png" alt="Баннер"'
        ' width="480"></p><p>Новые модели насосов уже на складе.</p>'
        '<img src="https://track.vektor.example/open.gif?id=42" width="1"'
        ' height="1" alt=""></body></html>'
    )
    return _headers(
        MIMEText(html, "html", "utf-8"),
        ("АО Вектор", "news@vektor.example"),
        to_address,
        "Новинки каталога — декабрь",
        "utf-8",
        now - timedelta(minutes=15),
        "<news-12@vektor.example>",
    ).as_bytes()


def spam_offer(to_address, now=None):
    """What a server's spam filter puts in Junk (the Spam view)."""
    now = now or datetime.now(timezone.utc)
    msg = MIMEText(
        "Уважаемый партнёр!\n\nБазы клиентов по всем отраслям, 100 000 "
        "контактов всего за 990 рублей. Только сегодня!\n",
        "plain",
        "utf-8",
    )
    msg["X-Spam-Flag"] = "YES"
    return _headers(
        msg,
        ("Базы данных", "offer@bazy-kontaktov.example"),
        to_address,
        "Базы клиентов за 990 рублей",
        "utf-8",
        now - timedelta(minutes=40),
        "<offer-990@bazy-kontaktov.example>",
    ).as_bytes()


#: what a broken gateway may deliver: no header, no text; it is quarantined
#: with its bytes, never lost
NOT_A_MAIL = b"\x01\x02 not a mail at all \xff\xfe\n"
