"""ISO 20022 status and return reason codes in words, and who fixes each. The status query
shows the words; the owner decides which team's queue the exception lands in."""

from canonical.exceptions import ExceptionOwner

AP, TREASURY = ExceptionOwner.AP_REMEDIATION, ExceptionOwner.TREASURY_OPS

# code: (words, owner). Supplier-side account problems need new bank details from AP;
# problems with our own account or file are treasury's.
REASONS: dict[str, tuple[str, ExceptionOwner]] = {
    "AC01": ("account number incorrect", AP),
    "AC02": ("debtor account invalid", TREASURY),
    "AC03": ("creditor account invalid", AP),
    "AC04": ("account closed", AP),
    "AC06": ("account blocked", AP),
    "AG01": ("transaction forbidden on this account", AP),
    "AM03": ("currency not allowed on the account", TREASURY),
    "AM04": ("insufficient funds", TREASURY),
    "AM05": ("duplicate payment in the file", TREASURY),
    "AM10": ("control sum wrong", TREASURY),
    "AM18": ("number of transactions wrong", TREASURY),
    "BE04": ("creditor address missing", AP),
    "CUST": ("cancelled at the customer's request", TREASURY),
    "DUPL": ("duplicate file: the bank already has it", TREASURY),
    "DT01": ("invalid date", TREASURY),
    "FF01": ("file format invalid", TREASURY),
    "MD01": ("no mandate", AP),
    "MD06": ("refund requested by the end customer", AP),
    "MD07": ("end customer deceased", AP),
    "MS02": ("refused by the creditor", AP),
    "MS03": ("reason not specified", TREASURY),
    "RC01": ("bank identifier incorrect", AP),
    "RR04": ("regulatory reason", TREASURY),
}


def in_words(code: str | None) -> str:
    if not code:
        return "no reason given"
    words = REASONS.get(code, (None,))[0]
    return f"{code} {words}" if words else f"{code} (unknown reason code)"


def owner_for_reason(code: str | None) -> ExceptionOwner:
    return REASONS.get(code or "", ("", TREASURY))[1]
