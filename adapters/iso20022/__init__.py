"""ISO 20022 for the bank leg: pain.001 out; pain.002, camt.052/053/054 and pacs.004 in,
read into canonical.bank models. Nothing outside adapters/ sees an ISO element name."""
