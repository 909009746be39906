"""Canonical data: the one vocabulary every layer speaks.

Nothing here knows SAP, ISO 20022 or Temporal; adapters translate to and from these models.
"""
