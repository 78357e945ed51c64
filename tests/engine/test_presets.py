from mail_engine.presets import preset_for


def test_known_providers():
    assert preset_for("ivan@yandex.ru").imap_host == "imap.yandex.ru"
    assert preset_for("Ivan <ivan@YA.RU>").key == "yandex"
    assert preset_for("a@bk.ru").smtp_host == "smtp.mail.ru"
    assert preset_for("a@gmail.com").note == "app_password"
    outlook = preset_for("a@hotmail.com")
    assert (outlook.note, outlook.smtp_port, outlook.smtp_security) == (
        "oauth",
        587,
        "starttls",
    )


def test_unknown_provider():
    assert preset_for("a@example.com") is None
    assert preset_for("") is None
    assert preset_for("not an address") is None
