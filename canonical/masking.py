"""Account numbers out of every text finsync writes (architecture invariant 9).

Error texts travel far: an activity's failure lands in workflow history, the case reason, the
Web UI, the worker's log and, before fixed supplier texts, a supplier's Peppol response. So
every text we build from a counterpart's answer or from master data goes through
`mask_bank_details` first; `iban_tokens` finds what the payload codec must encrypt when a
text slipped through anyway.

What counts as an account number:
- an IBAN-like token: a country code of the IBAN registry, two check digits, then 11 to 30
  upper-case letters or digits (at least 4 digits), in one run or in printed groups of 4; the
  checksum is not checked, since a mistyped IBAN is as private as a valid one;
- a BBAN-like value where a text names it: after "BBAN", "account", "account number",
  "acct", "Konto" or "rekening", or quoted in single quotes (schwifty's "Invalid BBAN
  structure: 'ABNA041716430Z'"), 8 to 34 characters holding at least 6 digits;
- any value the caller knows (the IBAN, account number, bank number being checked), with
  its BBAN part (the IBAN without country and check digits), spaces ignored.
An IBAN keeps its country and last 4 (`NL**4300`), anything else its last 4 (`****4300`):
enough to tell accounts apart in a case, too little to pay into one.
"""

import re

# ISO 13616 registry (and the partial IBAN countries of Africa): a country code outside it
# makes e.g. a 16-character hex digest starting "ab12" no IBAN.
_COUNTRY_LIST = (
    "AD AE AL AT AZ BA BE BG BH BI BR BY CH CR CY CZ DE DJ DK DO EE EG ES FI FK FO FR GB GE GI GL GR "
    "GT HN HR HU IE IL IQ IS IT JO KW KZ LB LC LI LT LU LV LY MC MD ME MK MN MR MT MU NI NL NO OM PK "
    "PL PS PT QA RO RS RU SA SC SD SE SI SK SM SO ST SV TL TN TR UA VA VG XK YE "
    "AO BF BJ CF CG CI CM CV DZ GA GQ GW IR KM MA MG ML MZ NE SN TD TG")
IBAN_COUNTRIES = frozenset(_COUNTRY_LIST.split(" "))

# Upper case, as IBANs are printed (lower-case hex digests stay readable): one run, or groups of
# 4 split by one space with a last group of 1-4 ("NL91 ABNA 0417 1643 00").
_IBAN = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})(\d{2})([A-Z0-9]{11,30}|(?:[ ][A-Z0-9]{4}){2,7}(?:[ ][A-Z0-9]{1,3})?)"
                   r"(?![A-Za-z0-9])")
_BBAN_NAMED = re.compile(
    r"(?i)(\b(?:bban|account(?:[ _]number)?|acct|konto(?:nummer)?|rekening(?:nummer)?)\b\W{0,3})"
    r"([A-Za-z0-9](?:[A-Za-z0-9-]|[ ](?=\d)){6,32}[A-Za-z0-9])")
_QUOTED = re.compile(r"'([A-Za-z0-9 -]{8,34})'")


def _digits(value: str) -> int:
    return sum(c.isdigit() for c in value)


def _compact(value: str) -> str:
    return "".join(value.split()).upper()


def iban_tokens(text: str) -> list[str]:
    """The IBAN-like tokens in `text`, compacted (no spaces, upper case)."""
    found = []
    for match in _IBAN.finditer(text):
        if match.group(1).upper() in IBAN_COUNTRIES and _digits(match.group(3)) >= 4:
            found.append(_compact(match.group(0)))
    return found


def _masked_iban(match: re.Match[str]) -> str:
    if match.group(1).upper() not in IBAN_COUNTRIES or _digits(match.group(3)) < 4:
        return match.group(0)
    compact = _compact(match.group(0))
    return f"{compact[:2]}**{compact[-4:]}"


def _masked(value: str) -> str:
    return f"****{_compact(value)[-4:]}"


def mask_bank_details(text: str, *known: str | None) -> str:
    """`text` with every account number in it masked (see the module's doc)."""
    if not text:
        return text
    for value in sorted({_compact(k) for k in known if k and len(_compact(k)) >= 6}, key=len, reverse=True):
        parts = [value] + ([value[4:]] if len(value) > 12 and value[:2].isalpha() and value[2:4].isdigit() else [])
        for part in parts:
            # Spaces may sit anywhere in a printed account number.
            spaced = r"[ ]?".join(re.escape(c) for c in part)
            text = re.sub(rf"(?i)(?<![A-Za-z0-9]){spaced}(?![A-Za-z0-9])", _masked(part), text)
    text = _IBAN.sub(_masked_iban, text)
    text = _BBAN_NAMED.sub(
        lambda m: m.group(1) + (_masked(m.group(2)) if _digits(m.group(2)) >= 6 else m.group(2)), text)
    return _QUOTED.sub(lambda m: f"'{_masked(m.group(1))}'" if _digits(m.group(1)) >= 6 else m.group(0), text)
