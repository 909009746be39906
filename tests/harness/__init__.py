"""Test-harness adapters: what only the mocks can answer (their inspection and control paths
under `/_mock`). Tests, benchmarks and the demo use them; production wiring (worker.py) never
imports this package, and production code paths do without what it offers
(tests/test_production_paths.py checks both)."""
