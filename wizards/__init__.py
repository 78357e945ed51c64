from . import crm_mail_setup_wizard
from . import crm_mail_blacklist_wizard
from . import crm_mail_compose
from . import crm_mail_postpone_wizard
from . import crm_mail_rule_test_wizard
from . import crm_mail_link_wizard
from . import crm_mail_log_note_wizard
from . import crm_mail_spam_wizard
