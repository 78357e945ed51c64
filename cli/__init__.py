from . import crm_mail_watch
