"""Builds small OFAC SDN *advanced* XML documents in the real schema's shape, for the sanctions tests."""

from __future__ import annotations

from datetime import date
from xml.sax.saxutils import escape

NS = "https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/ADVANCED_XML"

# Feature type ids differ between publications; these are deliberately not OFAC's.
FEATURE_TYPES = {"XBT": 344, "ETH": 345, "USDT": 887, "XMR": 566, "ARB": 1201, "BSC": 1202}


def sdn_xml(entries: list[tuple[str, str, str]], published: date = date(2026, 11, 20)) -> bytes:
    """``entries``: (party name, ticker, address). Unrelated features are mixed in, as in the real file."""
    feature_types = (
        "".join(
            f'<FeatureType ID="{fid}" FeatureTypeGroupID="1">'
            f"Digital Currency Address - {ticker}</FeatureType>"
            for ticker, fid in FEATURE_TYPES.items()
        )
        + '<FeatureType ID="8" FeatureTypeGroupID="2">Birthdate</FeatureType>'
        '<FeatureType ID="25" FeatureTypeGroupID="2">Vessel Call Sign</FeatureType>'
    )
    parties = []
    for i, (name, ticker, address) in enumerate(entries):
        ref = 40000 + i
        parties.append(f"""
    <DistinctParty FixedRef="{ref}">
      <Profile ID="{ref}" PartySubTypeID="4">
        <Identity ID="{ref + 100000}" FixedRef="{ref}" Primary="true" False="false">
          <Alias FixedRef="{ref}" AliasTypeID="1403" Primary="true" LowQuality="false">
            <DocumentedName ID="{ref + 200000}" FixedRef="{ref}" DocNameStatusID="1">
              <DocumentedNamePart>
                <NamePartValue NamePartGroupID="1" ScriptID="215">{escape(name)}</NamePartValue>
              </DocumentedNamePart>
            </DocumentedName>
          </Alias>
        </Identity>
        <Feature ID="{ref + 300000}" FeatureTypeID="8">
          <FeatureVersion ID="{ref + 310000}" ReliabilityID="1432"><DatePeriod/></FeatureVersion>
        </Feature>
        <Feature ID="{ref + 400000}" FeatureTypeID="{FEATURE_TYPES[ticker]}">
          <FeatureVersion ID="{ref + 410000}" ReliabilityID="1">
            <VersionDetail DetailTypeID="1432">{escape(address)}</VersionDetail>
          </FeatureVersion>
          <IdentityReference IdentityID="{ref + 100000}" IdentityFeatureLinkTypeID="1"/>
        </Feature>
      </Profile>
    </DistinctParty>""")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<Sanctions xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="{NS}">
  <DateOfIssue><Year>{published.year}</Year><Month>{published.month}</Month><Day>{published.day}</Day></DateOfIssue>
  <ReferenceValueSets>
    <FeatureTypeValues>{feature_types}</FeatureTypeValues>
  </ReferenceValueSets>
  <DistinctParties>{"".join(parties)}
  </DistinctParties>
</Sanctions>
""".encode()


#: An address on OFAC's list since 2022 (a Tornado Cash contract), used as the "listed" address.
LISTED = "0x8589427373D6D84E98730D7795D8f6f8731FDA16"

DEFAULT_LIST = [
    ("TORNADO CASH", "ETH", LISTED),
    ("LAZARUS GROUP", "XBT", "1PVqeR9Lzk3a8tXfQq1tZ6xZr2o3m6hYfq"),
    ("SOME EXCHANGE", "USDT", "0x1111111111111111111111111111111111111111"),
]
