"""ISO 20022 status and return reason codes, and NACHA return reason codes (R01...), in words,
and who fixes each. The status query shows the words; the owner decides which team's queue the
exception lands in. A NACHA account's rejections and returns carry R codes (adapters/nacha/),
handled as their ISO 20022 counterparts are: R03 like AC01/RC01, R02 like AC04."""

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
    # NACHA return reason codes (Operating Rules, Appendix Four) a credit we send can come back with.
    "R01": ("insufficient funds", TREASURY),
    "R02": ("account closed", AP),
    "R03": ("no account, or unable to locate the account", AP),
    "R04": ("invalid account number", AP),
    "R06": ("returned at the originating bank's request", TREASURY),
    "R13": ("receiving bank's routing number not valid", AP),
    "R14": ("account holder deceased", AP),
    "R15": ("beneficiary deceased", AP),
    "R16": ("account frozen", AP),
    "R17": ("file record edit criteria", TREASURY),
    "R20": ("non-transaction account", AP),
    "R23": ("credit entry refused by the receiver", AP),
    "R24": ("duplicate entry", TREASURY),
    "R28": ("routing number check digit error", AP),
}

# NACHA's return reason codes: R and two digits.
NACHA_RETURN_REASONS: frozenset[str] = frozenset(f"R{n:02d}" for n in range(1, 86))


def in_words(code: str | None) -> str:
    if not code:
        return "no reason given"
    words = REASONS.get(code, (None,))[0]
    return f"{code} {words}" if words else f"{code} (unknown reason code)"


def owner_for_reason(code: str | None) -> ExceptionOwner:
    return REASONS.get(code or "", ("", TREASURY))[1]


def _series(prefix: str, last: int, first: int = 1) -> set[str]:
    return {f"{prefix}{n:02d}" for n in range(first, last + 1)}


# ISO 20022 ExternalStatusReason1Code (the external code list a pain.002 quotes). A code a
# person types must be one of these: "AC4" or "ac04" is a typo, not a reason.
ISO_STATUS_REASONS: frozenset[str] = frozenset(
    _series("AB", 11) | _series("AC", 16) | _series("AG", 13) | {"AGNT"} | _series("AM", 23) - {"AM08"}
    | {"BE01"} | _series("BE", 23, 4) | {"CERI", "CH03", "CH04", "CH07", "CH09"} | _series("CH", 22, 10) - {"CH18"}
    | {"CNOR", "CURR", "CUST", "DNOR"} | _series("DS", 27) | {"DS0A", "DS0B", "DS0C", "DS0D", "DS0E", "DS0F", "DS0G",
                                                                 "DS0H", "DS0K"}
    | _series("DT", 6) | _series("DU", 5) | {"DUPL", "ED01", "ED03", "ED05", "ED06", "ERIN"} | _series("FF", 11)
    | {"G000", "G001", "G002", "G003", "G004", "G005", "G006", "ID01", "MD01", "MD02", "MD05", "MD06", "MD07"}
    | {"MS02", "MS03", "NARR", "NERI"} | _series("RC", 12) | {"RCON", "RF01"} | _series("RR", 12)
    | {"SL01", "SL02", "SL03", "SL11", "SL12", "SL13", "SL14", "TA01", "TD01", "TD02", "TD03", "TM01", "TS01", "TS04"}
)

# Rejections that say the payee's account itself is wrong (closed, invalid, blocked, unknown
# bank): paying the same account again can only fail again, or worse, reach someone else.
ACCOUNT_REASONS: frozenset[str] = frozenset({"AC01", "AC03", "AC04", "AC06", "AC13", "AG01", "BE04", "RC01",
                                             "R02", "R03", "R04", "R13", "R16", "R20", "R28"})


def is_iso_status_reason(code: str) -> bool:
    """A code a person may report: an ISO 20022 status reason, or a NACHA return reason (the
    answer a NACHA account's bank gives)."""
    return code in ISO_STATUS_REASONS or code in NACHA_RETURN_REASONS
