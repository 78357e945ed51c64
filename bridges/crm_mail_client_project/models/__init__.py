from . import crm_mail_message
from . import project_task
