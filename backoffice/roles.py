"""The roles people work in, and exactly what each may do, defined here and nowhere else.

Finance reviews and approves; account managers edit their own customers' contracts. The groups
are brought in line with this file after every `migrate`: a permission removed here is removed
from the group too.
"""

from typing import Any

from django.apps import apps
from django.contrib.auth.management import create_permissions
from django.contrib.auth.models import Group, Permission
from django.db import transaction

FINANCE = "Finance"
ACCOUNT_MANAGERS = "Account managers"


def _crud(app: str, *models: str, delete: bool = False) -> set[str]:
    actions = ("view", "add", "change", "delete") if delete else ("view", "add", "change")
    return {f"{app}.{action}_{model}" for model in models for action in actions}


ROLE_PERMISSIONS: dict[str, set[str]] = {
    FINANCE: {
        "customers.view_all_accounts",
        *_crud("customers", "account"),
        *_crud("customers", "contact", "taxid", delete=True),
        *_crud("billing", "contract", delete=True),  # deleting: drafts only
        *_crud("billing", "contractline", "pricephase", "pricetier", delete=True),
        *_crud("billing", "catalogitem", "listprice", delete=True),
        "billing.approve_contract",
        # Tax settings: rates (sent to Stripe, archived, never deleted) and rules.
        *_crud("billing", "taxrate"),
        *_crud("billing", "taxrule", delete=True),
        # Invoice review: the queue, approving (four eyes above the limits), holding, voiding.
        "billing.view_invoicereview",
        "billing.approve_invoice",
        "billing.view_creditnote",  # made from the invoice's page, issued in Stripe
        *_crud("billing", "invoiceapprovallimit"),
        # Usage measured by the product, which usage-based lines bill and invoices are checked on.
        *_crud("billing", "usagequantity", delete=True),
        # Files in and out: accounts, contracts and their lines, usage.
        "customers.import_account",
        "customers.export_account",
        "billing.import_contract",
        "billing.export_contract",
        "billing.import_usagequantity",
        "billing.export_usagequantity",
        # The finance reports, over every account.
        "reports.view_reports",
        # Questions of their own: SQL over the reporting views, written, run, and every run seen.
        *_crud("reports", "savedquery", delete=True),
        "reports.run_savedquery",
        "reports.view_queryrun",
        # Payments: the Radar queue, approving reviews and refunding as fraudulent (four eyes
        # above the limits), and the decisions taken.
        "payments.view_radar_queue",
        "payments.decide_radar",
        "payments.view_radardecision",
        *_crud("payments", "radarapprovallimit"),
        # Collections and disputes: retry a failed payment now, answer a dispute.
        "payments.view_paymentretry",
        "payments.retry_payment",
        "payments.view_disputeevidence",
        "payments.submit_dispute_evidence",
        # The Stripe sync: its health, the events received, "sync now" and "retry".
        "stripe_sync.view_syncstatus",
        "stripe_sync.view_stripeevent",
        "stripe_sync.view_outboxtask",  # tasks waiting for the broker
        "stripe_sync.run_stripe_sync",
        # Finance ops see and adjust the periodic jobs (sync schedules and the like).
        "django_celery_beat.view_periodictask",
        "django_celery_beat.change_periodictask",
        "django_celery_beat.view_crontabschedule",
        "django_celery_beat.view_intervalschedule",
    },
    ACCOUNT_MANAGERS: {
        # Their own accounts only (customers.selectors.accounts_visible_to).
        "customers.view_account",
        "customers.change_account",
        *_crud("customers", "contact", "taxid", delete=True),
        # Their own accounts' contracts, edited while drafts, never approved by them.
        *_crud("billing", "contract", delete=True),
        *_crud("billing", "contractline", "pricephase", "pricetier", delete=True),
        "billing.view_catalogitem",
        "billing.view_listprice",
        "billing.view_taxrate",
        "billing.view_taxrule",
        "billing.view_usagequantity",
        # Files of their own accounts and contracts, in and out.
        "customers.import_account",
        "customers.export_account",
        "billing.import_contract",
        "billing.export_contract",
        # The finance reports, over their own accounts only (reports.selectors).
        "reports.view_reports",
        # Finance's saved queries, run over their own accounts only (the reporting views).
        "reports.view_savedquery",
        "reports.run_savedquery",
        # The Radar queue of their own accounts' payments (payments.radar), never deciding.
        "payments.view_radar_queue",
        # Their own accounts' failed payments and disputes, seen, never retried or answered.
        "payments.view_paymentretry",
        "payments.view_disputeevidence",
    },
}

# Apps whose every model a role may look at (never change): the Stripe mirror is read-only here.
ROLE_VIEW_ALL_MODELS_OF: dict[str, set[str]] = {
    FINANCE: {"djstripe"},
    ACCOUNT_MANAGERS: set(),
}
# Screens that hold secrets (dj-stripe's API keys and webhook signing secrets): no role sees them.
NEVER_GRANTED = {"djstripe.view_apikey", "djstripe.view_webhookendpoint"}


def _permissions_for(role: str) -> list[Permission]:
    wanted = ROLE_PERMISSIONS[role]
    pairs = [name.split(".", 1) for name in wanted]
    found = list(
        Permission.objects.filter(
            content_type__app_label__in={app for app, _ in pairs},
            codename__in={codename for _, codename in pairs},
        ).select_related("content_type")
    )
    found = [p for p in found if f"{p.content_type.app_label}.{p.codename}" in wanted]
    missing = wanted - {f"{p.content_type.app_label}.{p.codename}" for p in found}
    if missing:
        raise LookupError(f"Role {role!r} names permissions that do not exist: {sorted(missing)}")
    found += Permission.objects.filter(
        content_type__app_label__in=ROLE_VIEW_ALL_MODELS_OF[role], codename__startswith="view_"
    ).select_related("content_type")
    return [p for p in found if f"{p.content_type.app_label}.{p.codename}" not in NEVER_GRANTED]


@transaction.atomic
def roles_sync() -> dict[str, Group]:
    """Create or update each role's group so it holds exactly its permissions. Idempotent."""
    for app_config in apps.get_app_configs():
        create_permissions(app_config, verbosity=0)
    groups = {}
    for role in ROLE_PERMISSIONS:
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(_permissions_for(role))
        groups[role] = group
    return groups


def roles_sync_after_migrate(**kwargs: Any) -> None:
    roles_sync()


def roles_granting(permission: str) -> list[str]:
    """The roles whose people hold `permission` ("billing.view_invoicereview" -> ["Finance"]),
    as this file grants it: what a refused page tells a person to ask for."""
    app, codename = permission.split(".", 1)
    if permission in NEVER_GRANTED:
        return []
    return [
        role
        for role, granted in ROLE_PERMISSIONS.items()
        if permission in granted
        or (codename.startswith("view_") and app in ROLE_VIEW_ALL_MODELS_OF[role])
    ]
