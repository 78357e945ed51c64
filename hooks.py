def uninstall_hook(env):
    """What the ORM does not remove with the addon's tables: the full-text
    functions of ``crm_mail_message_search.py``."""
    env.cr.execute(
        "DROP FUNCTION IF EXISTS crm_mail_message_fulltext_trigger() CASCADE;"
        "DROP FUNCTION IF EXISTS crm_mail_fulltext(text, text, text, text, text);"
    )
