"""NACHA (US ACH) payment files for paying accounts whose bank format is "nacha", and what their
bank sends back: the acknowledgement, the return file, and the BAI2 end-of-day statement."""
