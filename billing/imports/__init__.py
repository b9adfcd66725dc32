"""Billing's imports: contracts, contract lines and usage (the engine is file_imports)."""
