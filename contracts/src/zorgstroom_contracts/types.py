"""Value types that validate themselves: codes of the CBS, AGB and our own pseudonym."""

from typing import Annotated

from pydantic import Field, StringConstraints

MunicipalityCode = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{4}$"),
    Field(description="CBS gemeentecode, four digits (e.g. 0034 Almere).", examples=["0034"]),
]
WijkCode = Annotated[
    str,
    StringConstraints(pattern=r"^WK[0-9]{6}$"),
    Field(description="CBS wijk code: WK + gemeentecode + two digits.", examples=["WK003401"]),
]
AgbCode = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9]{8}$"),
    Field(description="AGB code of a care provider (zorgaanbieder), eight digits.", examples=["12345678"]),
]
ClientRef = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9a-f]{64}$"),
    Field(
        description="Pseudonym of a client: HMAC-SHA256 of the BSN under the region's secret, hex.",
        examples=["3f7a" + "0" * 60],
    ),
]
RegionCode = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$"),
    Field(description="Code of the region in which the event happened.", examples=["flevoland"]),
]
CareFormCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{1,39}$"),
    Field(
        description="A care form of the region (region data): the standard ones are BW_24H, BW_HOME, MO_NIGHT,"
        " MO_24H and MO_EMERGENCY; a region may add its own, each with its iWmo product category.",
        examples=["BW_24H"],
    ),
]
Identifier = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"),
    Field(description="An identifier chosen by its owner (facility, unit, corporation, offer)."),
]


def municipality_wijk_matches(municipality: str, wijk: str) -> bool:
    """A wijk code embeds the gemeentecode of the municipality it lies in."""
    return wijk[2:6] == municipality
