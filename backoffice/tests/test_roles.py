import pytest
from django.contrib.auth.models import Group, Permission

from backoffice import roles
from backoffice.roles import ACCOUNT_MANAGERS, FINANCE, roles_sync

pytestmark = pytest.mark.django_db


def permission_names(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return {
        f"{p.content_type.app_label}.{p.codename}"
        for p in group.permissions.select_related("content_type")
    }


def test_migrate_creates_both_role_groups_with_their_permissions():
    # The test database was built by migrate, whose post_migrate ran roles_sync.
    managers = permission_names(ACCOUNT_MANAGERS)
    assert managers == roles.ROLE_PERMISSIONS[ACCOUNT_MANAGERS]
    assert {"customers.view_account", "billing.change_contract"} <= managers
    # account managers never approve, and never see every account
    assert "billing.approve_contract" not in managers
    assert "customers.view_all_accounts" not in managers
    finance = permission_names(FINANCE)
    assert roles.ROLE_PERMISSIONS[FINANCE] <= finance
    assert "djstripe.view_invoice" in finance
    assert not any(p.startswith("djstripe.") and ".view_" not in p for p in finance)
    assert "djstripe.view_apikey" not in finance
    assert {"billing.approve_contract", "customers.view_all_accounts"} <= finance


def test_roles_sync_twice_changes_nothing():
    roles_sync()
    before = {name: permission_names(name) for name in (FINANCE, ACCOUNT_MANAGERS)}
    roles_sync()
    assert Group.objects.filter(name__in=[FINANCE, ACCOUNT_MANAGERS]).count() == 2
    assert {name: permission_names(name) for name in before} == before


def test_roles_sync_undoes_permissions_granted_by_hand():
    # given someone gave account managers the right to delete accounts in the admin
    group = Group.objects.get(name=ACCOUNT_MANAGERS)
    group.permissions.add(
        Permission.objects.get(content_type__app_label="customers", codename="delete_account")
    )

    # when the roles are synced (as every migrate does)
    roles_sync()

    # then the group is back to what the code says
    assert "customers.delete_account" not in permission_names(ACCOUNT_MANAGERS)


def test_a_role_naming_a_missing_permission_fails_loudly(monkeypatch):
    monkeypatch.setitem(roles.ROLE_PERMISSIONS, FINANCE, {"customers.approve_everything"})
    with pytest.raises(LookupError, match=r"customers\.approve_everything"):
        roles_sync()
