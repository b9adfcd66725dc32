from django.apps import AppConfig


class FileImportsConfig(AppConfig):
    name = "file_imports"
    verbose_name = "File imports"
