import pytest

from jobs.models import Job
from reminders import services
from reminders.tasks import send_reminder


@pytest.fixture
def alice(make_user):
    """A participant who follows the Official Account and wants reminders."""
    user = make_user("alice", wechat_openid="o-demo-alice")
    services.set_opt_in(user, True)
    return user


def reminder_jobs(**filters):
    return Job.objects.filter(job_type=send_reminder.module_path, **filters)
