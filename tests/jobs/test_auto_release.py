"""The T-1h release of unconfirmed slots, end to end through the JobRunner."""

from datetime import timedelta

import pytest

from jobs import runner
from jobs.models import Job
from prs import services
from prs.models import Slot, User
from prs.tasks import release_key, release_unconfirmed_slot

HOUR = timedelta(hours=1)


@pytest.fixture
def pr(clock, make_pr):
    return make_pr(start_in=timedelta(hours=3), capacity=4)


def release_jobs(slot):
    return Job.objects.filter(
        job_type=release_unconfirmed_slot.module_path, dedupe_key=release_key(slot.pk)
    )


def test_join_schedules_the_release_at_t_minus_1h(pr, participant):
    slot = services.join(pr.pk, participant)

    job = release_jobs(slot).get()
    assert (job.status, job.run_at, job.payload["args"]) == (
        "PENDING",
        pr.start_at - HOUR,
        [slot.pk],
    )


def test_after_t_minus_1h_a_tick_releases_unconfirmed_slots_only(
    clock, pr, participant, make_user
):
    unconfirmed = services.join(pr.pk, participant)
    confirmer = make_user()
    confirmed = services.join(pr.pk, confirmer)
    services.confirm(pr.pk, confirmer)

    clock.set_now(pr.start_at - HOUR)
    result = runner.tick()

    assert result.succeeded == 1
    assert Slot.objects.get(pk=unconfirmed.pk).status == "RELEASED"
    assert Slot.objects.get(pk=confirmed.pk).status == "CONFIRMED"
    released_user = User.objects.get(pk=participant.pk)
    assert released_user.reliability_release_count == 1
    assert released_user.release_frequency == 1.0
    assert User.objects.get(pk=confirmer.pk).reliability_release_count == 0


def test_confirm_and_exit_delete_the_pending_release(pr, participant, make_user):
    leaver = make_user()
    confirmed = services.join(pr.pk, participant)
    exited = services.join(pr.pk, leaver)

    services.confirm(pr.pk, participant)
    services.exit(pr.pk, leaver)

    assert not release_jobs(confirmed).exists()
    assert not release_jobs(exited).exists()


def test_cancel_deletes_the_pending_releases(pr, participant, organiser):
    slot = services.join(pr.pk, participant)

    services.cancel(pr.pk, organiser)

    assert not release_jobs(slot).exists()


def test_a_release_picked_up_early_waits_for_the_deadline(
    clock, settings, pr, participant
):
    settings.JOBS_TOLERANCE_SECONDS = 60
    slot = services.join(pr.pk, participant)
    deadline = pr.start_at - HOUR

    clock.set_now(deadline - timedelta(seconds=40))
    early = runner.tick()
    confirmed_in_time = services.confirm(pr.pk, participant)

    assert early.deferred == 1
    assert confirmed_in_time.status == "CONFIRMED"
    assert not release_jobs(slot).exists()


def test_a_deferred_release_runs_at_the_deadline(clock, settings, pr, participant):
    settings.JOBS_TOLERANCE_SECONDS = 60
    slot = services.join(pr.pk, participant)
    deadline = pr.start_at - HOUR
    clock.set_now(deadline - timedelta(seconds=40))
    runner.tick()

    clock.set_now(deadline)
    result = runner.tick()

    job = release_jobs(slot).get()
    assert result.succeeded == 1
    assert (job.status, job.attempts) == ("SUCCEEDED", 1)
    assert Slot.objects.get(pk=slot.pk).status == "RELEASED"


def test_a_release_job_for_a_slot_that_changed_does_nothing(clock, pr, participant):
    slot = services.join(pr.pk, participant)
    # Confirmed behind the runner's back: the handler must check again itself.
    Slot.objects.filter(pk=slot.pk).update(status="CONFIRMED")

    clock.set_now(pr.start_at - HOUR)
    result = runner.tick()

    assert result.succeeded == 1
    assert Slot.objects.get(pk=slot.pk).status == "CONFIRMED"
    assert User.objects.get(pk=participant.pk).reliability_release_count == 0


def test_a_release_job_for_a_deleted_slot_succeeds_quietly(clock, pr, participant):
    slot = services.join(pr.pk, participant)
    Slot.objects.filter(pk=slot.pk).delete()

    clock.set_now(pr.start_at - HOUR)

    assert runner.tick().succeeded == 1
