"""NACHA records declared by field position and width (NACHA Operating Rules, Appendix Three):
94 characters a line, numbers right-justified and zero-filled, text left-justified and
space-filled, blocked in tens with lines of nines. One declaration serves the writer and the
readers, so no code slices a line at a number of its own."""

from typing import NamedTuple

LINE, BLOCK = 94, 10
PADDING = "9" * LINE
# A NACHA record is ASCII's printable characters, one byte each.
FIRST, LAST = 0x20, 0x7E


class Field(NamedTuple):
    name: str
    start: int  # 0-based
    width: int
    numeric: bool


def _layout(*spec: tuple[str, int, bool]) -> tuple[Field, ...]:
    fields, start = [], 0
    for name, width, numeric in spec:
        fields.append(Field(name, start, width, numeric))
        start += width
    assert start == LINE, f"a record declares {start} columns"
    return tuple(fields)


N, A = True, False
FILE_HEADER = _layout(
    ("record type", 1, N), ("priority code", 2, N), ("immediate destination", 10, A), ("immediate origin", 10, A),
    ("creation date", 6, N), ("creation time", 4, N), ("file id modifier", 1, A), ("record size", 3, N),
    ("blocking factor", 2, N), ("format code", 1, N), ("destination name", 23, A), ("origin name", 23, A),
    ("reference code", 8, A))
BATCH_HEADER = _layout(
    ("record type", 1, N), ("service class", 3, N), ("company name", 16, A), ("discretionary data", 20, A),
    ("company identification", 10, A), ("entry class", 3, A), ("entry description", 10, A),
    ("descriptive date", 6, A), ("effective date", 6, N), ("settlement date", 3, A), ("originator status", 1, A),
    ("odfi", 8, N), ("batch number", 7, N))
ENTRY = _layout(
    ("record type", 1, N), ("transaction code", 2, N), ("rdfi", 8, N), ("check digit", 1, N),
    ("account number", 17, A), ("amount", 10, N), ("individual id", 15, A), ("individual name", 22, A),
    ("discretionary data", 2, A), ("addenda indicator", 1, N), ("trace number", 15, N))
ADDENDA = _layout(
    ("record type", 1, N), ("addenda type", 2, N), ("payment information", 80, A), ("addenda sequence", 4, N),
    ("entry sequence", 7, N))
RETURN_ADDENDA = _layout(
    ("record type", 1, N), ("addenda type", 2, N), ("return reason", 3, A), ("original trace", 15, N),
    ("date of death", 6, A), ("original rdfi", 8, N), ("addenda information", 44, A), ("trace number", 15, N))
BATCH_CONTROL = _layout(
    ("record type", 1, N), ("service class", 3, N), ("entry count", 6, N), ("entry hash", 10, N),
    ("total debits", 12, N), ("total credits", 12, N), ("company identification", 10, A),
    ("authentication code", 19, A), ("reserved", 6, A), ("odfi", 8, N), ("batch number", 7, N))
FILE_CONTROL = _layout(
    ("record type", 1, N), ("batch count", 6, N), ("block count", 6, N), ("entry count", 8, N),
    ("entry hash", 10, N), ("total debits", 12, N), ("total credits", 12, N), ("reserved", 39, A))


def line(layout: tuple[Field, ...], **values: object) -> str:
    """One record; a value that does not fit its field is the caller's error, never cut."""
    out = []
    for field in layout:
        raw = values.get(field.name.replace(" ", "_"))
        text = "" if raw is None else str(raw)
        text = text.rjust(field.width, "0") if field.numeric else text.ljust(field.width)
        if len(text) != field.width or not all(FIRST <= ord(c) <= LAST for c in text):
            raise ValueError(f"NACHA {field.name} {text!r} is not {field.width} printable ASCII characters")
        out.append(text)
    return "".join(out)


def fields(layout: tuple[Field, ...], record: str) -> dict[str, str]:
    """A record's fields by name, stripped."""
    return {f.name: record[f.start:f.start + f.width].strip() for f in layout}


def records(body: str) -> list[str]:
    """The records of a file, without the lines of nines that fill its last block."""
    lines = [raw.rstrip("\r") for raw in body.split("\n") if raw.strip()]
    return [r for r in lines if r != PADDING]


def bank_file_name(origin: str, creation_date: str, creation_time: str, modifier: str) -> str:
    """What the bank calls a NACHA file: NACHA has no message id, so a bank tells files apart by
    immediate origin, creation date and time, and file id modifier (mock-bank writes exactly
    this where a pain.002 names the MsgId: in the acknowledgement, camt.054 and BAI2)."""
    return f"{origin.strip()}-{creation_date}{creation_time}{modifier}"
