"""Everything `make demo` loads, in order. Every step is safe to run again."""

from demo.billed_year import demo_billed_year_ensure
from demo.collections import demo_collections_ensure
from demo.contracts import demo_contracts_ensure
from demo.customers import demo_accounts_ensure
from demo.invoices import demo_invoices_ensure
from demo.payments import demo_payments_ensure
from demo.radar import demo_radar_ensure
from demo.saved_queries import demo_saved_queries_ensure
from demo.tax import demo_tax_ensure
from demo.users import demo_users_ensure


def demo_data_load(*, password: str) -> None:
    users = {user.username: user for user in demo_users_ensure(password=password)}
    demo_accounts_ensure()
    demo_contracts_ensure(users, approver=users["finance"])
    demo_tax_ensure()
    demo_invoices_ensure()
    demo_billed_year_ensure()
    demo_saved_queries_ensure(owner=users["finance"])
    demo_payments_ensure()
    demo_radar_ensure()
    demo_collections_ensure()
