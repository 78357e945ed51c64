from . import test_create_task
