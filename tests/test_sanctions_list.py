"""The OFAC SDN advanced XML parser and the ``flask backorders sanctions`` commands."""

from __future__ import annotations

import contextlib
import io
import zipfile
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flask_backorders import get_state
from flask_backorders.compliance.sanctions import SanctionsListError, active_list, parse_sdn_advanced

from .http_servers import LocalServer
from .sdn import DEFAULT_LIST, LISTED, sdn_xml


def test_extracts_evm_addresses_by_feature_text_lowercased() -> None:
    entries = [
        *DEFAULT_LIST,
        ("ARB ENTITY", "ARB", "0x2222222222222222222222222222222222222222"),
        ("MONERO", "XMR", "4AdUndXHHZ6cfufTMvppY6JwXNouMBzSkbLYfpAV5Usx3skxNgYeYTRj5UzqtReoS44qo9mtmXCqY4"),
    ]
    parsed = parse_sdn_advanced(sdn_xml(entries, published=date(2026, 10, 31)))
    assert parsed.published == date(2026, 10, 31)
    by_address = {a.address: a for a in parsed.addresses}
    assert set(by_address) == {
        LISTED.lower(),
        "0x1111111111111111111111111111111111111111",
        "0x2222222222222222222222222222222222222222",
    }
    assert by_address[LISTED.lower()].ticker == "ETH"
    assert by_address[LISTED.lower()].party == "TORNADO CASH"
    assert by_address[LISTED.lower()].party_ref == "40000"
    assert len(parsed.sha256) == 64


def test_reads_the_zip_export_and_the_older_namespace() -> None:
    xml = sdn_xml(DEFAULT_LIST).replace(
        b"https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML",
        b"http://www.un.org/sanctions/1.0",
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("SDN_ADVANCED.XML", xml)
    parsed = parse_sdn_advanced(buffer.getvalue())
    assert LISTED.lower() in {a.address for a in parsed.addresses}


@pytest.mark.parametrize(
    "data",
    [
        b"<html><body>Service unavailable</body></html>",
        b"<Sanctions><DateOfIssue>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><Sanctions>&a;</Sanctions>',
        b"PK\x05\x06" + b"\x00" * 18,
    ],
)
def test_refuses_what_is_not_an_sdn_file(data: bytes) -> None:
    with pytest.raises((SanctionsListError, zipfile.BadZipFile)):
        parse_sdn_advanced(data)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_the_parser(data: bytes) -> None:
    with contextlib.suppress(SanctionsListError, zipfile.BadZipFile):
        parse_sdn_advanced(data)


@settings(max_examples=50, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=30).filter(lambda s: s.strip() and "\x00" not in s),
            st.sampled_from(["ETH", "USDT", "ARB", "XBT"]),
            st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex()),
        ),
        max_size=8,
    )
)
def test_every_listed_evm_address_is_found(entries: list[tuple[str, str, str]]) -> None:
    clean = [("".join(c for c in name if c.isprintable()) or "X", t, a) for name, t, a in entries]
    parsed = parse_sdn_advanced(sdn_xml(clean))
    expected = {a.lower() for _, t, a in clean if t != "XBT"}
    assert {a.address for a in parsed.addresses} == expected


def test_cli_update_from_file_and_url_and_status(app: Flask, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    path = tmp_path / "sdn_advanced.xml"
    path.write_bytes(sdn_xml(DEFAULT_LIST, published=date(2026, 11, 25)))
    result = runner.invoke(args=["backorders", "sanctions", "update", "--file", str(path)])
    assert result.exit_code == 0, result.output
    assert "loaded 2 EVM address(es)" in result.output and "published 2026-11-25" in result.output

    body = sdn_xml([("NEW ENTITY", "ETH", "0x3333333333333333333333333333333333333333")])
    server = LocalServer(
        lambda p, h: (200, body, "application/xml") if p == "/SDN_ADVANCED.XML" else (404, b"", "text/plain")
    )
    try:
        result = runner.invoke(
            args=["backorders", "sanctions", "update", "--url", f"{server.url}/SDN_ADVANCED.XML"]
        )
        assert result.exit_code == 0, result.output
        missing = runner.invoke(args=["backorders", "sanctions", "update", "--url", f"{server.url}/nope"])
        assert missing.exit_code != 0
    finally:
        server.stop()
    row = get_state(app).read(active_list)
    assert row is not None and row.addresses == 1 and row.source.endswith("/SDN_ADVANCED.XML")
    status = runner.invoke(args=["backorders", "sanctions", "status"])
    assert "1 address(es)" in status.output

    bad = tmp_path / "bad.xml"
    bad.write_text("<html/>")
    result = runner.invoke(args=["backorders", "sanctions", "update", "--file", str(bad)])
    assert result.exit_code != 0 and "not loaded" in result.output
    assert get_state(app).read(active_list).addresses == 1  # type: ignore[union-attr]
