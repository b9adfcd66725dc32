from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data of `make demo` (and its command, demo_data): nothing else depends on it."""

    name = "demo"
    verbose_name = "Demo data"
