"""Two questions of finance's own, saved, so the saved queries show something on first run."""

from backoffice.models import User
from reports.models import SavedQuery

DEMO_QUERIES = [
    {
        "name": "Revenue by month and currency",
        "description": "Billed before tax on finalized invoices (void left out), per month and "
        "currency, over the range chosen.",
        "sql": (
            "select substr(cast(finalized_on as text), 1, 7) as month, currency,\n"
            "       sum(amount) as billed, count(distinct invoice_id) as invoices\n"
            "from reporting.invoice_lines\n"
            "where counted and finalized_on between :start and :end\n"
            "group by 1, 2\n"
            "order by 1, 2"
        ),
        "parameters": [
            {"name": "start", "type": "date", "default": "today-365"},
            {"name": "end", "type": "date", "default": "today"},
        ],
        "chart_kind": SavedQuery.ChartKind.BAR,
        "chart_x": "month",
        "chart_y": "billed",
    },
    {
        "name": "Open invoices over 60 days",
        "description": "Invoices still owed, due before the date chosen (60 days ago unless "
        "changed).",
        "sql": (
            "select i.number, a.name as account, a.account_manager, i.currency, i.due_on,\n"
            "       i.total, i.amount_remaining as owed\n"
            "from reporting.invoices i\n"
            "join reporting.accounts a on a.account_id = i.account_id\n"
            "where i.status in ('open', 'uncollectible') and i.amount_remaining > 0\n"
            "  and i.due_on < :due_before\n"
            "order by i.due_on, i.number"
        ),
        "parameters": [{"name": "due_before", "type": "date", "default": "today-60"}],
        "chart_kind": "",
        "chart_x": "",
        "chart_y": "",
    },
]


def demo_saved_queries_ensure(*, owner: User) -> None:
    for query in DEMO_QUERIES:
        SavedQuery.objects.update_or_create(name=query["name"], defaults={**query, "owner": owner})
