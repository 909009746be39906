"""ABA routing numbers: the nine digits a US bank is known by in ACH (NACHA) payments. The
ninth digit checks the first eight with the weights 3, 7, 1 (ANSI X9.100-20), so a typo in a
routing number is refused before a payment file carries it."""

_WEIGHTS = (3, 7, 1, 3, 7, 1, 3, 7)


def check_digit(first_eight: str) -> int:
    """The ninth digit for the first eight of a routing number."""
    return (10 - sum(int(d) * w for d, w in zip(first_eight, _WEIGHTS, strict=True)) % 10) % 10


def routing_problem(routing: str | None) -> str | None:
    """Why `routing` is not an ABA routing number, in words; None when it is one. Never quotes
    the number: the text may reach a case or a log."""
    value = (routing or "").strip()
    if not value:
        return "no ABA routing number"
    if len(value) != 9 or not value.isascii() or not value.isdigit():
        return f"an ABA routing number is 9 digits, not {len(value)} characters"
    if check_digit(value[:8]) != int(value[8]):
        return "the ABA routing number fails its check digit"
    return None


def is_routing_number(routing: str | None) -> bool:
    return routing_problem(routing) is None


def account_number_problem(account: str | None) -> str | None:
    """Why `account` can not be a DFI account number of a NACHA entry (1-17 characters)."""
    value = (account or "").strip()
    if not value:
        return "no account number"
    if len(value) > 17 or not value.isascii() or not value.replace("-", "").isalnum():
        return "an ACH account number is at most 17 letters and digits"
    return None
