"""Who changed a record, when no person did: a named system actor, and why."""

import pytest
from celery import shared_task

from backoffice.history import (
    JOBS,
    RENEWALS,
    STRIPE_EVENTS,
    SYSTEM_ACTORS,
    acting_as,
    history_save,
    system_user,
    system_users_ensure,
)
from backoffice.models import User
from customers.models import Account
from customers.tests.factories import AccountFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_migrate_made_every_system_actor_inactive_and_without_a_password():
    actors = User.objects.filter(username__in=SYSTEM_ACTORS)

    assert sorted(a.username for a in actors) == sorted(SYSTEM_ACTORS)
    for actor in actors:
        assert not actor.is_active
        assert not actor.is_staff
        assert not actor.is_superuser
        assert not actor.has_usable_password()
        assert actor.first_name == SYSTEM_ACTORS[actor.username]  # what it is, in the user list


def test_making_them_again_changes_nothing():
    before = list(User.objects.filter(username__in=SYSTEM_ACTORS).values_list("pk", flat=True))

    system_users_ensure()

    after = list(User.objects.filter(username__in=SYSTEM_ACTORS).values_list("pk", flat=True))
    assert after == before


def test_a_system_actor_cannot_log_in(client):
    actor = system_user(RENEWALS)

    assert not client.login(username=actor.username, password="")


def test_only_named_actors_exist():
    with pytest.raises(ValueError, match="not a system actor"):
        system_user("system:anything")


def test_a_change_made_while_an_actor_is_at_work_is_signed_by_it():
    account = AccountFactory()

    with acting_as(STRIPE_EVENTS, "stripe event evt_1 (customer.updated)"):
        account.legal_name = "Renamed by Stripe"
        account.save()

    entry = account.history.first()
    assert (entry.history_user.username, entry.history_change_reason) == (
        STRIPE_EVENTS,
        "stripe event evt_1 (customer.updated)",
    )


def test_a_person_and_a_reason_of_the_changes_own_are_kept():
    account, person = AccountFactory(), UserFactory(username="fin-person")

    with acting_as(STRIPE_EVENTS, "stripe event evt_1 (customer.updated)"):
        history_save(account, by=person, why="corrected by hand")

    entry = account.history.first()
    assert (entry.history_user, entry.history_change_reason) == (person, "corrected by hand")


def test_a_citing_actor_adds_its_reason_to_the_changes_own():
    account = AccountFactory()

    with acting_as(STRIPE_EVENTS, "stripe event evt_2 (customer.updated)", cite=True):
        history_save(account, by=None, why="made in Stripe")

    entry = account.history.first()
    assert (entry.history_user.username, entry.history_change_reason) == (
        STRIPE_EVENTS,
        "made in Stripe; stripe event evt_2 (customer.updated)",
    )


def test_outside_any_actor_nothing_is_added():
    account = AccountFactory()

    entry = account.history.first()
    assert (entry.history_user, entry.history_change_reason) == (None, None)


@shared_task(name="backoffice.tests.test_history.rename_account_task")
def rename_account_task(account_id: int) -> None:
    account = Account.objects.get(pk=account_id)
    account.legal_name = "Renamed by a job"
    account.save()


def test_a_background_job_signs_what_nobody_else_signs():
    account = AccountFactory()

    rename_account_task.apply(args=[account.pk])  # as a worker runs it (eagerly here)

    entry = account.history.first()
    assert (entry.history_user.username, entry.history_change_reason) == (
        JOBS,
        "job: rename account",
    )
    # and once it ends, nothing more is signed by it
    account.save()
    assert account.history.first().history_user is None
