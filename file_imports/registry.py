"""The kinds of file the command line imports, by the name it takes (`import_csv accounts`).

Each domain registers its resources in its AppConfig.ready; the engine names none of them.
"""

from file_imports.engine import Resource

_RESOURCES: dict[str, type[Resource]] = {}


def resource_register(*resource_classes: type[Resource]) -> None:
    for resource_class in resource_classes:
        known = _RESOURCES.get(resource_class.name)
        if known is not None and known is not resource_class:
            raise ValueError(
                f"Two imports are named {resource_class.name!r}: {known.__module__} and "
                f"{resource_class.__module__}."
            )
        _RESOURCES[resource_class.name] = resource_class


def resources() -> dict[str, type[Resource]]:
    return dict(_RESOURCES)
