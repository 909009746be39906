"""E-invoice intake: a supplier's Peppol BIS Billing 3 UBL invoice, pushed to finsync's
inbound endpoint, checked against the EN 16931 rules that decide payment and started as
its lifecycle (RECEIVED) by signal-with-start. See intake/app.py."""
