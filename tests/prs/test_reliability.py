"""The reliability counters and ratios on `users` follow each slot transition."""

from datetime import timedelta

import pytest
from django.db import connection

from prs import services
from prs.models import User

HOUR = timedelta(hours=1)


def figures(user):
    user = User.objects.get(pk=user.pk)
    return {
        "join": user.reliability_join_count,
        "confirm": user.reliability_confirm_count,
        "attend": user.reliability_attend_count,
        "release": user.reliability_release_count,
        "join_to_confirm": user.join_to_confirm_ratio,
        "confirm_to_attend": user.confirm_to_attend_ratio,
        "release_frequency": user.release_frequency,
    }


def test_a_new_user_has_zero_figures(participant):
    assert set(figures(participant).values()) == {0}


def test_join_without_confirm_keeps_ratios_at_zero(clock, make_pr, participant):
    services.join(make_pr().pk, participant)

    assert figures(participant) == {
        "join": 1,
        "confirm": 0,
        "attend": 0,
        "release": 0,
        "join_to_confirm": 0.0,
        "confirm_to_attend": 0.0,
        "release_frequency": 0.0,
    }


def test_a_sequence_of_actions_moves_counters_and_ratios(clock, make_pr, participant):
    hike, dinner, climb = make_pr(), make_pr(), make_pr(start_in=timedelta(hours=3))

    services.join(hike.pk, participant)
    services.confirm(hike.pk, participant)
    assert figures(participant)["join_to_confirm"] == 1.0

    services.join(dinner.pk, participant)
    services.exit(dinner.pk, participant)
    assert figures(participant)["join_to_confirm"] == 0.5
    assert figures(participant)["release_frequency"] == 0.5

    services.join(dinner.pk, participant)  # a rejoin counts as a new join
    services.join(climb.pk, participant)
    clock.set_now(climb.start_at - HOUR)
    services.release(climb.slots.get().pk)
    clock.set_now(hike.start_at)
    services.check_in(hike.pk, participant)

    assert figures(participant) == {
        "join": 4,
        "confirm": 1,
        "attend": 1,
        "release": 2,
        "join_to_confirm": pytest.approx(1 / 4),
        "confirm_to_attend": 1.0,
        "release_frequency": pytest.approx(2 / 4),
    }


def test_exit_after_confirm_counts_a_release(clock, make_pr, participant):
    pr = make_pr()
    services.join(pr.pk, participant)
    services.confirm(pr.pk, participant)

    services.exit(pr.pk, participant)

    assert figures(participant)["release"] == 1
    assert figures(participant)["join_to_confirm"] == 1.0
    assert figures(participant)["release_frequency"] == 1.0


def test_figures_of_other_users_are_untouched(clock, make_pr, participant, outsider):
    pr = make_pr()

    services.join(pr.pk, participant)
    services.confirm(pr.pk, participant)

    assert set(figures(outsider).values()) == {0}


def test_cancel_changes_no_figure(clock, make_pr, participant, organiser):
    pr = make_pr()
    services.join(pr.pk, participant)
    before = figures(participant)

    services.cancel(pr.pk, organiser)

    assert figures(participant) == before


def test_the_figures_are_read_straight_from_the_users_table(
    clock, make_pr, participant
):
    services.join(make_pr().pk, participant)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reliability_join_count, join_to_confirm_ratio FROM users "
            "WHERE id = %s",
            [participant.pk],
        )
        assert cursor.fetchone() == (1, 0.0)
    assert "user_reliability_scores" not in connection.introspection.table_names()
