import factory

from backoffice.models import User
from customers.models import Account


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    legal_name = factory.Sequence(lambda n: f"Customer {n:04d} GmbH")
    external_ref = factory.Sequence(lambda n: f"CRM-F{n:05d}")
    billing_country = "DE"
    default_currency = "EUR"
    account_manager = factory.SubFactory(UserFactory)
