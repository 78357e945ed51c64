from . import test_install
from . import test_crm_mail_account
from . import test_fetch
from . import test_access_rules
from . import test_linking
from . import test_send
from . import test_review
