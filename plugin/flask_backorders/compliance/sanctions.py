"""Sanctions screening of payer addresses: the OFAC SDN list kept locally, an on-chain oracle, an HTTP API.

The local list is loaded from OFAC's *advanced* XML export (``SDN_ADVANCED.XML``, also inside
``SDN_ADVANCED.ZIP``). Digital-currency addresses are features whose type reads
``Digital Currency Address - <ticker>``; the type ids differ between publications, so they are looked up by
their text. Only tickers of EVM chains are kept and compared lowercase.
"""

from __future__ import annotations

import hashlib
import io
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session
from urllib3.util.retry import Retry
from web3 import Web3

from ..chain.artifacts import abi
from ..models import Order, SanctionedAddress, SanctionsList
from ..states import OrderStatus
from .checks import CheckContext, CheckResult, failed, passed, review

FEATURE_PREFIX = "Digital Currency Address - "
#: Tickers OFAC uses for addresses that are (or may be) EVM addresses.
EVM_TICKERS = frozenset(
    {"ETH", "ETC", "USDC", "USDT", "ARB", "BSC", "BNB", "MATIC", "AVAX", "OP", "BASE", "DAI", "TRX_EVM"}
)
OFAC_SDN_ADVANCED_URL = "https://sanctionslistservice.ofac.treas.gov/api/download/SDN_ADVANCED.ZIP"


class SanctionsListError(ValueError):
    """The file is not an SDN advanced XML (or a ZIP holding one)."""


@dataclass(frozen=True)
class ListedAddress:
    address: str  # lowercase
    ticker: str
    party: str | None
    party_ref: str | None


@dataclass(frozen=True)
class ParsedList:
    published: date | None
    addresses: list[ListedAddress]
    sha256: str


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> Iterator[ET.Element]:
    return (child for child in element if _local(child.tag) == name)


def _first(element: ET.Element, name: str) -> ET.Element | None:
    return next(_children(element, name), None)


def _descendants(element: ET.Element, name: str) -> Iterator[ET.Element]:
    return (e for e in element.iter() if _local(e.tag) == name)


def _is_evm_address(text: str) -> bool:
    return len(text) == 42 and text.startswith("0x") and all(c in "0123456789abcdef" for c in text[2:])


def parse_sdn_advanced(data: bytes) -> ParsedList:
    """Extract EVM digital-currency addresses from SDN advanced XML (or a ZIP holding it)."""
    digest = hashlib.sha256(data).hexdigest()
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".xml")]
            if not names:
                raise SanctionsListError("the ZIP holds no XML file")
            data = archive.read(names[0])
    if b"<!DOCTYPE" in data[:2000] or b"<!ENTITY" in data[:2000]:
        raise SanctionsListError("DTDs and entities are not accepted")
    try:
        root = ET.fromstring(data)  # noqa: S314 - see the DOCTYPE/ENTITY refusal above
    except ET.ParseError as error:
        raise SanctionsListError(f"not well-formed XML: {error}") from None
    if _local(root.tag) != "Sanctions":
        raise SanctionsListError("not an SDN advanced XML document (root is not <Sanctions>)")

    published = None
    issued = _first(root, "DateOfIssue")
    if issued is not None:
        try:
            published = date(*(int(_first(issued, part).text or "0") for part in ("Year", "Month", "Day")))  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            published = None

    tickers: dict[str, str] = {}
    for feature_type in _descendants(root, "FeatureType"):
        text = (feature_type.text or "").strip()
        if text.startswith(FEATURE_PREFIX):
            ticker = text[len(FEATURE_PREFIX) :].strip().upper()
            if ticker in EVM_TICKERS:
                tickers[feature_type.get("ID", "")] = ticker

    found: dict[str, ListedAddress] = {}
    for party in _descendants(root, "DistinctParty"):
        ref = party.get("FixedRef")
        name = _party_name(party)
        for feature in _descendants(party, "Feature"):
            listed_as = tickers.get(feature.get("FeatureTypeID", ""))
            if listed_as is None:
                continue
            for detail in _descendants(feature, "VersionDetail"):
                address = (detail.text or "").strip().lower()
                if _is_evm_address(address) and address not in found:
                    found[address] = ListedAddress(
                        address=address, ticker=listed_as, party=name, party_ref=ref
                    )
    return ParsedList(published=published, addresses=list(found.values()), sha256=digest)


def _party_name(party: ET.Element) -> str | None:
    for alias in _descendants(party, "Alias"):
        if alias.get("Primary") == "true":
            parts = [(v.text or "").strip() for v in _descendants(alias, "NamePartValue")]
            name = " ".join(p for p in parts if p)
            if name:
                return name[:300]
    return None


def fetch_list(url: str, *, timeout: float = 60.0) -> bytes:
    """Download a list file (the official export is ``SDN_ADVANCED.ZIP``)."""
    response = requests.get(url, timeout=timeout)
    response.raise_for_status()
    return response.content


def load_list(session: Session, parsed: ParsedList, *, source: str, now: datetime) -> SanctionsList:
    """Store a parsed list and make it the active one (older lists stay for the audit trail), and have
    every held or allocated order screened against it again."""
    session.execute(update(SanctionsList).where(SanctionsList.active.is_(True)).values(active=False))
    row = SanctionsList(
        source=source[:300],
        published=parsed.published,
        sha256=parsed.sha256,
        addresses=len(parsed.addresses),
        loaded_at=now,
        active=True,
    )
    session.add(row)
    session.flush()
    # Every open order is screened again against the new list by the next worker round: a newly listed
    # payer's funds are frozen without waiting for a restock or a payout.
    session.execute(update(Order).where(Order.status == OrderStatus.HELD).values(deposit_screened_at=None))
    session.execute(
        update(Order).where(Order.status == OrderStatus.ALLOCATED).values(fulfilment_screened_at=None)
    )
    if parsed.addresses:
        session.execute(
            insert(SanctionedAddress),
            [
                {
                    "list_id": row.id,
                    "address": a.address,
                    "ticker": a.ticker,
                    "party": a.party,
                    "party_ref": a.party_ref,
                }
                for a in parsed.addresses
            ],
        )
    return row


def active_list(session: Session) -> SanctionsList | None:
    return session.scalars(
        select(SanctionsList).where(SanctionsList.active.is_(True)).order_by(SanctionsList.id.desc())
    ).first()


# ------------------------------------------------------------------ checks


def local_list_check(ctx: CheckContext) -> CheckResult:
    """The payer against the active local list. No list, or a stale one, means review (fail closed)."""
    payer = ctx.order.payer.lower()
    listed = active_list(ctx.session)
    inputs = {"payer": payer}
    if listed is None:
        return review("no sanctions list is loaded (run: flask backorders sanctions update)", inputs=inputs)
    source, when = listed.source, listed.published.isoformat() if listed.published else None
    age = (ctx.now - listed.loaded_at).days
    if age > ctx.settings.sanctions_max_age_days:
        return review(f"the sanctions list is {age} days old", inputs=inputs, source=source, source_date=when)
    entry = ctx.session.scalars(
        select(SanctionedAddress).where(
            SanctionedAddress.list_id == listed.id, SanctionedAddress.address == payer
        )
    ).first()
    if entry is not None:
        return failed(
            "the payer address is on the sanctions list",
            inputs=inputs,
            source=source,
            source_date=when,
            sanctions=True,
            matched={
                "address": payer,
                "ticker": entry.ticker,
                "party": entry.party,
                "party_ref": entry.party_ref,
                "list": source,
                "list_date": when,
                "list_sha256": listed.sha256,
            },
        )
    return passed("not listed", inputs=inputs, source=source, source_date=when)


class OracleCheck:
    """A Chainalysis-style on-chain oracle: ``isSanctioned(address) -> bool``."""

    def __init__(self, w3: Web3, address: str) -> None:
        self.address = Web3.to_checksum_address(address)
        self.contract = w3.eth.contract(address=self.address, abi=abi("SanctionsList"))

    def __call__(self, ctx: CheckContext) -> CheckResult:
        inputs = {"payer": ctx.order.payer.lower(), "oracle": self.address}
        source = f"oracle {self.address}"
        try:
            hit = bool(self.contract.functions.isSanctioned(Web3.to_checksum_address(ctx.order.payer)).call())
        except Exception as error:
            return review(
                f"the sanctions oracle could not be read ({type(error).__name__})",
                inputs=inputs,
                source=source,
            )
        if hit:
            return failed(
                "the sanctions oracle lists the payer",
                inputs=inputs,
                source=source,
                sanctions=True,
                matched={"address": ctx.order.payer.lower(), "oracle": self.address},
            )
        return passed("not listed by the oracle", inputs=inputs, source=source)


class ScreeningApiCheck:
    """An address-screening HTTP API in the shape of Chainalysis' free sanctions API.

    ``GET {base}/address/{address}`` with header ``X-API-Key``; the answer is
    ``{"identifications": [{"category": "sanctions", "name": ..., "description": ..., "url": ...}]}``,
    empty when the address is not identified.
    """

    def __init__(self, base_url: str, api_key: str | None, *, timeout: float = 5.0, retries: int = 2) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self.timeout = timeout
        self.http = requests.Session()
        retry = Retry(
            total=retries,
            backoff_factor=0.2,
            status_forcelist=(429, 500, 502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
        )
        self.http.mount("http://", HTTPAdapter(max_retries=retry))
        self.http.mount("https://", HTTPAdapter(max_retries=retry))

    def __call__(self, ctx: CheckContext) -> CheckResult:
        payer = ctx.order.payer
        inputs = {"payer": payer.lower()}
        source = f"screening API {self.base_url}"
        headers = {"Accept": "application/json"}
        if self._api_key:
            headers["X-API-Key"] = self._api_key
        try:
            response = self.http.get(
                f"{self.base_url}/address/{payer}", headers=headers, timeout=self.timeout
            )
            if response.status_code != 200:
                return review(
                    f"the screening API answered HTTP {response.status_code}", inputs=inputs, source=source
                )
            body: Any = response.json()
            identifications = body["identifications"]
            if not isinstance(identifications, list):
                raise TypeError("identifications is not a list")
        except (requests.RequestException, ValueError, KeyError, TypeError) as error:
            return review(
                f"the screening API could not be used ({type(error).__name__})", inputs=inputs, source=source
            )
        hits = [i for i in identifications if isinstance(i, dict) and i.get("category") == "sanctions"]
        if hits:
            return failed(
                "the screening API identifies the payer as sanctioned",
                inputs=inputs,
                source=source,
                sanctions=True,
                matched={"address": payer.lower(), "identifications": hits[:5]},
            )
        return passed("not identified by the screening API", inputs=inputs, source=source)
