"""Imports of contract data from CSV and XLSX files: one engine, one resource per kind of row."""

from billing.imports.engine import ImportOptions, ImportReport, Resource, run_import


def resources() -> dict[str, type[Resource]]:
    """The kinds of file that can be imported, by the name the command takes."""
    from billing.imports.accounts import AccountResource
    from billing.imports.contract_lines import ContractLineResource
    from billing.imports.contracts import ContractResource
    from billing.imports.usage import UsageResource

    return {
        r.name: r for r in (AccountResource, ContractResource, ContractLineResource, UsageResource)
    }


__all__ = ["ImportOptions", "ImportReport", "Resource", "resources", "run_import"]
