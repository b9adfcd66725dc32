from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "customers"
    verbose_name = "Customers"

    def ready(self) -> None:
        from customers.resources import AccountResource
        from file_imports.registry import resource_register

        resource_register(AccountResource)
