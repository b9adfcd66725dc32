"""The history of a record: who changed it (a person, or a named system actor) and why.

A change no person made is signed by a system actor, an inactive user that cannot log in
(`system:renewals`, `stripe:events`, ...), with its reason, as imports sign theirs with the
person and "import: lines.csv". Jobs and the Stripe sync say who they are with `acting_as`;
every history row written meanwhile without a person of its own is theirs (django-simple-history's
pre_create_historical_record, `history_actor_fill`).
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from typing import Any

# username -> what it is, in words (its first name in the user list).
RENEWALS = "system:renewals"
STRIPE_EVENTS = "stripe:events"
STRIPE_SYNC = "stripe:sync"
AUTO_APPROVAL = "system:auto-approval"
JOBS = "system:jobs"
SYSTEM_ACTORS: dict[str, str] = {
    RENEWALS: "Daily job renewing and expiring contracts",
    STRIPE_EVENTS: "Stripe events (webhooks and the events list)",
    STRIPE_SYNC: "Objects read from Stripe (backfill and re-reads)",
    AUTO_APPROVAL: "Invoice approval limits (clean drafts approved by rule)",
    JOBS: "Background jobs",
}


def system_user(username: str) -> Any:
    """The system actor's user, made if missing (`migrate` makes them all): inactive, with no
    usable password, in no group."""
    from backoffice.models import User

    if username not in SYSTEM_ACTORS:
        raise ValueError(f"{username!r} is not a system actor: {', '.join(SYSTEM_ACTORS)}.")
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username, first_name=SYSTEM_ACTORS[username], is_active=False)
        user.set_unusable_password()
        user.save()
    return user


def system_users_ensure() -> None:
    for username in SYSTEM_ACTORS:
        system_user(username)


def system_users_after_migrate(**kwargs: Any) -> None:
    system_users_ensure()


@dataclass
class _Acting:
    username: str
    why: str
    cite: bool = False
    _user: Any = field(default=None, repr=False)

    def user(self) -> Any:
        if self._user is None:
            self._user = system_user(self.username)
        return self._user


_acting: ContextVar[_Acting | None] = ContextVar("history_acting", default=None)


@contextmanager
def acting_as(username: str, why: str, *, cite: bool = False) -> Iterator[None]:
    """Within it, a history row with no person of its own names `username` and, when it has no
    reason of its own, `why`; with `cite`, a reason of its own is followed by `why` ("made in
    Stripe: CN-7; stripe event evt_1 (credit_note.created)"). The innermost wins."""
    token = _acting.set(_Acting(username, why, cite))
    try:
        yield
    finally:
        _acting.reset(token)


# Celery: a task's tokens, by task id, from its start to its end (eager tasks nest).
_jobs: dict[str, Token[_Acting | None]] = {}


def job_started(task_id: str = "", task: Any = None, **kwargs: Any) -> None:
    """task_prerun: a background job signs what no person and no inner actor signs, as
    "system:jobs" with "job: invoice hold in stripe"."""
    name = str(getattr(task, "name", "") or "").rsplit(".", 1)[-1].removesuffix("_task")
    _jobs[task_id] = _acting.set(_Acting(JOBS, f"job: {name.replace('_', ' ')}"))


def job_ended(task_id: str = "", **kwargs: Any) -> None:
    """task_postrun."""
    token = _jobs.pop(task_id, None)
    if token is not None:
        _acting.reset(token)


def history_actor_fill(sender: Any, history_instance: Any, **kwargs: Any) -> None:
    """pre_create_historical_record: sign a row no person made with the actor at work."""
    acting = _acting.get()
    if acting is None:
        return
    if history_instance.history_user_id is None:
        history_instance.history_user = acting.user()
    own = history_instance.history_change_reason
    if not own:
        history_instance.history_change_reason = acting.why
    elif acting.cite and acting.why not in own:
        history_instance.history_change_reason = f"{own}; {acting.why}"


def history_save(record: Any, *, by: Any, why: str, **save: Any) -> None:
    """Save `record` with its history entry naming `by` (None: the system actor at work, see
    `acting_as`) and `why`."""
    record._change_reason = why  # what django-simple-history reads
    record._history_user = by if getattr(by, "pk", None) else None
    record.save(**save)
