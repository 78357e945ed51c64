"""Realistic sample mail for the demo (and benchmarks): Russian and English,
plain and HTML, koi8-r / cp1251 / utf-8, attachments, a reply thread."""

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
SUBJECTS = [
    "Запрос коммерческого предложения",
    "Счёт на оплату №{n}",
    "Re: Договор поставки",
    "Заказ оборудования",
    "Price request for {n} units",
    "Вопрос по доставке",
]
BODIES = [
    "Добрый день!\n\nПрошу выслать коммерческое предложение на {n} единиц.\n\n"
    "С уважением,\n{name}",
    "Здравствуйте!\n\nВо вложении счёт на оплату. "
    "Просим оплатить до пятницы.\n\n{name}",
    "Hello,\n\nplease send us your best price for {n} units.\n\nRegards,\n{name}",
]
CHARSETS = ["utf-8", "koi8-r", "cp1251"]


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
    subject = rng.choice(SUBJECTS).format(n=index)
    body = rng.choice(BODIES).format(n=rng.randint(2, 500), name=name)
    charset = "utf-8" if body.isascii() else rng.choice(CHARSETS)
    try:
        (subject + body + name).encode(charset)
    except UnicodeEncodeError:  # koi8-r has no "№"
        charset = "utf-8"
    html = rng.random() < 0.4
    if html:
        paragraphs = "".join(f"<p>{line}</p>" for line in body.split("\n") if line)
        text_part = MIMEText(f"<html><body>{paragraphs}</body></html>", "html", charset)
    else:
        text_part = MIMEText(body, "plain", charset)
    if rng.random() < 0.25:
        msg = MIMEMultipart("mixed")
        msg.attach(text_part)
        pdf = MIMEApplication(
            b"%PDF-1.4\n% sample\n" + bytes(rng.randbytes(2048)), "pdf"
        )
        filename = rng.choice(["счёт.pdf", "offer.pdf", "спецификация.pdf"])
        pdf.add_header(
            "Content-Disposition", "attachment", filename=("utf-8", "", filename)
        )
        msg.attach(pdf)
    else:
        msg = text_part
    msg["From"] = formataddr((str(Header(name, charset)), address))
    msg["To"] = to_address
    msg["Subject"] = Header(subject, charset)
    msg["Date"] = format_datetime(now - timedelta(minutes=37 * index))
    msg["Message-ID"] = (
        f"<sample-{index}-{rng.getrandbits(40):x}@{address.split('@')[1]}>"
    )
    return msg.as_bytes()
