"""python manage.py check_invoices [--json]: run the review checks on every draft invoice."""

import json
from typing import Any

from django.core.management.base import BaseCommand

from billing.invoices.services import drafts_review_all


class Command(BaseCommand):
    help = (
        "Check every draft invoice in the Stripe mirror against its contract and print one "
        "line per invoice (--json: one JSON object per line)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON object per invoice")

    def handle(self, *args: Any, **options: Any) -> None:
        reviews = drafts_review_all()
        for review in reviews:
            rules = sorted({flag["rule"] for flag in review.flags})
            if options["json"]:
                self.stdout.write(
                    json.dumps(
                        {"invoice": review.stripe_invoice_id, "clean": not rules, "rules": rules}
                    )
                )
                continue
            verdict = "clean" if not rules else f"flagged: {', '.join(rules)}"
            contract = f"{review.contract}" if review.contract else "no contract"
            self.stdout.write(f"{review.stripe_invoice_id}  {contract}  {verdict}")
        if not options["json"]:
            flagged = sum(1 for r in reviews if r.flags)
            self.stdout.write(f"{len(reviews)} draft(s) checked, {flagged} flagged.")
