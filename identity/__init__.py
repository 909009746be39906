"""Who is deciding: signed decision tokens (JWT) from the company's identity provider, verified
against public keys in the worker's configuration (architecture invariant 8). No Temporal imports:
workflows call the verification from update validators, the CLI and codec server use it directly."""
