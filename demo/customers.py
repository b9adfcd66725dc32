"""Demo customers: about 40 accounts in 20 countries and 15 currencies, with their account
managers, contacts and tax IDs. Safe to run again: what exists (by CRM reference) is kept."""

from django.db import transaction

from backoffice.models import User
from customers.models import Account, Contact, TaxId
from demo.users import DEMO_USERS

# external_ref -> (legal name, billing country, default currency, account manager)
DEMO_ACCOUNTS: dict[str, tuple[str, str, str, str]] = {
    "CRM-0001": ("Northwind Traders Inc.", "US", "USD", "manager"),
    "CRM-0002": ("Bergmann Logistik GmbH", "DE", "EUR", "manager"),
    "CRM-0003": ("Tanaka Seimitsu K.K.", "JP", "JPY", "manager"),
    "CRM-0004": ("Thames Analytics Ltd", "GB", "GBP", "manager2"),
    "CRM-0005": ("Gulf Pearl Trading W.L.L.", "BH", "BHD", "manager2"),
    "CRM-0006": ("Maple Leaf Health Corp.", "CA", "CAD", "manager"),
    "CRM-0007": ("Southern Cross Mining Pty Ltd", "AU", "AUD", "manager2"),
    "CRM-0008": ("Lumière Médias SAS", "FR", "EUR", "manager"),
}


@transaction.atomic
def demo_accounts_ensure() -> list[Account]:
    managers = {u.username: u for u in User.objects.filter(username__in=DEMO_USERS)}
    accounts = []
    for external_ref, (legal_name, country, currency, manager) in DEMO_ACCOUNTS.items():
        values = {
            "legal_name": legal_name,
            "billing_country": country,
            "default_currency": currency,
            "account_manager": managers[manager],
        }
        account = Account.objects.filter(external_ref=external_ref).first()
        if account is None:
            account = Account.objects.create(external_ref=external_ref, **values)
        elif any(getattr(account, field) != value for field, value in values.items()):
            # Saved only when it differs, so a second run adds no empty audit entries.
            for field, value in values.items():
                setattr(account, field, value)
            account.save()
        accounts.append(account)
    return accounts


# external_ref -> (legal name, country, currency, state, manager, tax id type, tax id)
DEMO_ACCOUNTS_MORE: dict[str, tuple[str, str, str, str, str, str, str]] = {
    "CRM-0009": ("Hollandse Data B.V.", "NL", "EUR", "", "manager", "eu_vat", "NL004495445B01"),
    "CRM-0010": ("Liffey Software Ltd", "IE", "EUR", "", "manager2", "", ""),
    "CRM-0011": ("Indus Cloud Pvt Ltd", "IN", "INR", "", "manager", "in_gst", "27AAPFU0939F1ZV"),
    "CRM-0012": ("Merlion Fintech Pte Ltd", "SG", "SGD", "", "manager2", "sg_uen", "00192200M"),
    "CRM-0013": (
        "Paulista Varejo S.A.",
        "BR",
        "BRL",
        "",
        "manager",
        "br_cnpj",
        "16.727.230/0001-97",
    ),
    "CRM-0014": ("Grupo Azteca Digital S.A.", "MX", "MXN", "", "manager2", "", ""),
    "CRM-0015": ("Hangang Mobility Co.", "KR", "KRW", "", "manager", "kr_brn", "134-86-72683"),
    "CRM-0016": (
        "Alpenrose Versicherung AG",
        "CH",
        "CHF",
        "",
        "manager2",
        "ch_vat",
        "CHE-107.787.577 IVA",
    ),
    "CRM-0017": ("Fjord Energi AS", "NO", "NOK", "", "manager", "no_vat", "995525828MVA"),
    "CRM-0018": ("Norrsken Retail AB", "SE", "SEK", "", "manager2", "", ""),
    "CRM-0019": ("Iberia Logística S.L.", "ES", "EUR", "", "manager", "eu_vat", "ESA13585625"),
    "CRM-0020": ("Milano Moda S.p.A.", "IT", "EUR", "", "manager2", "eu_vat", "IT00743110157"),
    "CRM-0021": ("Pacific Coast Media LLC", "US", "USD", "CA", "manager", "us_ein", "04-2103594"),
    "CRM-0022": ("Lone Star Freight Inc.", "US", "USD", "TX", "manager2", "", ""),
    "CRM-0023": ("Empire Health Systems Inc.", "US", "USD", "NY", "manager", "", ""),
    "CRM-0024": ("Great Lakes Robotics Corp.", "CA", "CAD", "ON", "manager2", "ca_bn", "123456782"),
    "CRM-0025": (
        "Kansai Trading Co., Ltd.",
        "JP",
        "JPY",
        "",
        "manager",
        "jp_trn",
        "T5835678256246",
    ),
    "CRM-0026": ("Kuwait Gulf Logistics K.S.C.", "KW", "KWD", "", "manager2", "", ""),
    "CRM-0027": ("Berliner Bau GmbH", "DE", "EUR", "", "manager", "eu_vat", "DE136695976"),
    "CRM-0028": ("Rhône Énergie SA", "FR", "EUR", "", "manager2", "eu_vat", "FR40303265045"),
    "CRM-0029": ("Pennine Insurance plc", "GB", "GBP", "", "manager", "gb_vat", "GB980780684"),
    "CRM-0030": (
        "Harbour Bridge Media Pty Ltd",
        "AU",
        "AUD",
        "",
        "manager2",
        "au_abn",
        "51 824 753 556",
    ),
    "CRM-0031": ("Cascadia Outdoor Inc.", "US", "USD", "WA", "manager", "", ""),
    "CRM-0032": ("Rotterdam Port Systems B.V.", "NL", "EUR", "", "manager2", "", ""),
    "CRM-0033": ("Bavaria Medizintechnik AG", "DE", "EUR", "", "manager", "", ""),
    "CRM-0034": ("Mumbai Payments Ltd", "IN", "INR", "", "manager2", "", ""),
    "CRM-0035": ("Osaka Robotics K.K.", "JP", "JPY", "", "manager", "jp_cn", "5835678256246"),
    "CRM-0036": ("Manama Data Centre W.L.L.", "BH", "BHD", "", "manager2", "", ""),
    "CRM-0037": ("Zurich Analytics GmbH", "CH", "CHF", "", "manager", "", ""),
    "CRM-0038": ("Dublin Health Ltd", "IE", "EUR", "", "manager2", "", ""),
    "CRM-0039": ("Toronto Learning Inc.", "CA", "CAD", "QC", "manager", "", ""),
    "CRM-0040": ("Sydney Harbour Hotels Pty Ltd", "AU", "AUD", "", "manager2", "", ""),
}


def demo_accounts_more_ensure(managers: dict[str, User]) -> None:
    for ref, (
        name,
        country,
        currency,
        state,
        manager,
        tax_type,
        tax_value,
    ) in DEMO_ACCOUNTS_MORE.items():
        account, created = Account.objects.get_or_create(
            external_ref=ref,
            defaults={
                "legal_name": name,
                "billing_country": country,
                "default_currency": currency,
                "state": state,
                "account_manager": managers[manager],
                "billing_email": f"ap@{ref.lower()}.example",
                "accepted_payment_methods": ["card"]
                + (["us_bank_account"] if currency == "USD" and country == "US" else [])
                + (["sepa_debit"] if currency == "EUR" else []),
                "tax_exemption": Account.TaxExemption.REVERSE
                if country in {"NL", "IE", "ES", "IT", "FR"} and tax_type
                else Account.TaxExemption.NONE,
            },
        )
        if not created:
            continue
        Contact.objects.create(
            account=account,
            name="Accounts Payable",
            email=f"ap@{ref.lower()}.example",
            role=Contact.Role.BILLING,
            receives_invoices=True,
        )
        if tax_type:
            tax_id = TaxId(account=account, type=tax_type, value=tax_value)
            tax_id.full_clean()
            tax_id.save()
