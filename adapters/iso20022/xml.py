"""What every reader of a bank message shares: a safe parse, namespaced lookups that work for
any version of a message (camt.053.001.02 and .08 share their paths), amounts as Decimal."""

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache, wraps
from typing import ParamSpec, TypeVar

from lxml import etree
from pydantic import ValidationError

P = ParamSpec("P")
R = TypeVar("R")

# A bank message is input from outside: no DTDs, no entities, no network. huge_tree because
# a 10,000-entry statement is several MB in one document.
_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True, remove_blank_text=True
)

# Everything before the root element's start tag: where a DOCTYPE (and with it any entity)
# would have to stand. A comment or processing instruction may come first, so not a fixed prefix.
_PROLOG = re.compile(rb"(?:\s|<\?.*?\?>|<!--.*?-->)*", re.DOTALL)

NOT_PROVIDED = "NOTPROVIDED"  # the ISO placeholder for an id the sender did not have


class UnreadableBankMessage(ValueError):
    """A bank message finsync cannot read: not XML, another message type than announced, or
    an id it needs is missing. The inbox records the message and reports this (an exception
    case for treasury operations); it never crashes on it and never guesses."""


def readable(reader: Callable[P, R]) -> Callable[P, R]:
    """A value the canonical model refuses (an unknown currency, a bad date) makes the
    message unreadable, like a missing id: one exception type for the inbox to catch."""

    @wraps(reader)
    def read(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return reader(*args, **kwargs)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise UnreadableBankMessage(f"{exc.title} {where}: {error['msg']}") from None

    return read


@lru_cache(maxsize=1024)
def _xpath(namespace: str, path: str, text: bool) -> etree.XPath:
    # "A/B" -> "d:A/d:B", compiled once per message version: the same relative paths serve
    # every version's namespace, and a compiled XPath is ~3x faster than find() with a map.
    steps = "/".join(part if part in (".", "..") else f"d:{part}" for part in path.split("/"))
    return etree.XPath(f"string({steps})" if text else steps, namespaces={"d": namespace})


class Node:
    """An element and its document's namespace, with the lookups the readers need."""

    __slots__ = ("el", "ns")

    def __init__(self, el: etree._Element, ns: str):
        self.el, self.ns = el, ns

    def find(self, path: str) -> "Node | None":
        found = _xpath(self.ns, path, False)(self.el)
        return Node(found[0], self.ns) if found else None

    def findall(self, path: str) -> list["Node"]:
        return [Node(e, self.ns) for e in _xpath(self.ns, path, False)(self.el)]

    def text(self, path: str) -> str | None:
        return str(_xpath(self.ns, path, True)(self.el)).strip() or None

    def id(self, path: str) -> str | None:
        """An identifier; the NOTPROVIDED placeholder counts as none."""
        value = self.text(path)
        return None if value == NOT_PROVIDED else value

    def required(self, path: str, what: str) -> str:
        value = self.id(path)
        if value is None:
            raise UnreadableBankMessage(f"{what} ({path}) is missing")
        return value

    def amount(self, path: str) -> tuple[Decimal, str | None] | None:
        """(amount, Ccy) of an amount element; the currency is None where the schema has
        none (sums in TxsSummry)."""
        found = next(iter(_xpath(self.ns, path, False)(self.el)), None)
        if found is None or not (found.text or "").strip():
            return None
        try:
            value = Decimal(found.text.strip())
        except InvalidOperation:
            raise UnreadableBankMessage(f"{path} {found.text!r} is not an amount") from None
        return value, found.get("Ccy")

    def day(self, path: str) -> date | None:
        """A date from a DateAndDateTime choice (…/Dt or …/DtTm) or a plain ISODate."""
        for candidate in (f"{path}/Dt", f"{path}/DtTm", path):
            value = self.text(candidate)
            if value:
                try:
                    return datetime.fromisoformat(value).date() if "T" in value else date.fromisoformat(value)
                except ValueError:
                    raise UnreadableBankMessage(f"{candidate} {value!r} is not a date") from None
        return None


def parse(body: str | bytes, family: str) -> tuple[Node, str]:
    """The document's message element (CstmrPmtStsRpt, BkToCstmrStmt, ...) and the message
    name from its namespace ("camt.053.001.08"). `family` ("camt.05") must match."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    _refuse_doctype(data)
    try:
        root = etree.fromstring(data, _PARSER)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise UnreadableBankMessage(f"not well-formed XML: {exc}") from None
    if root.getroottree().docinfo.doctype:  # one the prolog scan could not see (another encoding)
        raise UnreadableBankMessage(_DOCTYPE_REFUSED)
    namespace = etree.QName(root).namespace or ""
    message = namespace.rsplit(":", 1)[-1]
    if etree.QName(root).localname != "Document" or not message.startswith(family):
        found = f"{etree.QName(root).localname} in {namespace or 'no namespace'!r}"
        raise UnreadableBankMessage(f"expected a {family}* Document, got {found}")
    children = [c for c in root if isinstance(c.tag, str)]
    if len(children) != 1:
        raise UnreadableBankMessage(f"{message} Document must hold exactly one message element")
    return Node(children[0], namespace), message


_DOCTYPE_REFUSED = ("the message has a DOCTYPE declaration; an ISO 20022 message needs no DTD and no entities, "
                    "so it is not read")


def _refuse_doctype(data: bytes) -> None:
    """As intake does for invoices (intake/ubl.py): a DTD is how a message makes a parser
    expand or fetch something (entities, billion laughs), so one is refused before parsing."""
    start = data[3:] if data.startswith(b"\xef\xbb\xbf") else data  # a UTF-8 byte order mark
    prolog = _PROLOG.match(start)
    if start[prolog.end() if prolog else 0:].lstrip()[:9].upper() == b"<!DOCTYPE":
        raise UnreadableBankMessage(_DOCTYPE_REFUSED)


def signed(amount: tuple[Decimal, str | None] | None, indicator: str | None) -> Decimal | None:
    """A balance is unsigned on the wire; CdtDbtInd DBIT makes it negative (overdrawn)."""
    if amount is None:
        return None
    return -amount[0] if indicator == "DBIT" else amount[0]
