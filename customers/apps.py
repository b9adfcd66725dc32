from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        from backoffice.home import home_figures, navigation
        from customers.home import account_home_figures
        from customers.models import Account
        from customers.resources import AccountResource
        from file_imports.registry import resource_register

        resource_register(AccountResource)
        home_figures.register(account_home_figures)
        # After Invoice review (10) and Contracts (20), before Tax settings (40).
        navigation.section("Accounts", Account, order=30)
