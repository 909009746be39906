"""Adapters: one module per external system (ERP, bank, e-invoicing), plain async httpx, no Temporal imports."""
