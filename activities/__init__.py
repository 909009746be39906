"""Activities: thin, idempotent steps with their adapters injected (money-transfer style)."""
