"""Country codes: Comtrade numeric codes and statistical agencies' names to ISO 3166-1 alpha-3.

Comtrade's numeric codes follow UN M49 except where they do not (France 251, India 699, Italy 381,
Norway 579, Switzerland 757, USA 842, Taiwan as "Other Asia, nes" 490), and they include historical
entities, "areas nes" and groups. Real countries get their ISO3 code; everything else gets a
stable pseudo-code (``X`` + three digits, or a named one below) and ``is_country`` False, so that it
can be kept in the data yet never mistaken for a bilateral partner country.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pycountry

WORLD = "WLD"
REST_OF_WORLD = "ROW"

# Comtrade codes that differ from ISO numeric, and historical entities with a conventional code.
COMTRADE_EXCEPTIONS: dict[int, tuple[str, bool]] = {
    0: (WORLD, False),
    58: ("BLX", True),  # Belgium-Luxembourg (until 1998)
    200: ("CSK", True),  # Czechoslovakia
    251: ("FRA", True),
    278: ("DDR", True),  # former German Democratic Republic
    280: ("DEU", True),  # Federal Republic of Germany (former)
    381: ("ITA", True),
    490: ("TWN", True),  # "Other Asia, nes": Taiwan in Comtrade practice
    530: ("ANT", True),  # Netherlands Antilles (former)
    579: ("NOR", True),
    699: ("IND", True),
    711: ("ZA1", False),  # Southern African Customs Union (until 1999)
    720: ("YMD", True),  # Democratic Yemen (former)
    736: ("SDN", True),  # Sudan (former, before 2012)
    757: ("CHE", True),
    810: ("SUN", True),  # USSR
    842: ("USA", True),
    866: ("YMD", True),
    868: ("PCZ", False),  # Panama Canal Zone
    890: ("YUG", True),  # Yugoslavia (former)
    891: ("SCG", True),  # Serbia and Montenegro
}

# Names used by USGS and other agencies that pycountry does not resolve by itself.
NAME_ALIASES: dict[str, str] = {
    "burma": "MMR",
    "myanmar": "MMR",
    "russia": "RUS",
    "korea, north": "PRK",
    "north korea": "PRK",
    "korea, south": "KOR",
    "south korea": "KOR",
    "korea, republic of": "KOR",
    "congo (kinshasa)": "COD",
    "congo (brazzaville)": "COG",
    "vietnam": "VNM",
    "laos": "LAO",
    "iran": "IRN",
    "syria": "SYR",
    "taiwan": "TWN",
    "turkey": "TUR",
    "united states": "USA",
    "usa": "USA",
    "united kingdom": "GBR",
    "czech republic": "CZE",
    "bolivia": "BOL",
    "tanzania": "TZA",
    "venezuela": "VEN",
    "moldova": "MDA",
    "commonwealth of independent states": "CIS",
    "cis": "CIS",
    "former soviet union": "SUN",
    "ussr": "SUN",
    "world": WORLD,
    "world total": WORLD,
    "world total (rounded)": WORLD,
    "world total, rounded": WORLD,
    "total": WORLD,
    "other countries": REST_OF_WORLD,
    "other": REST_OF_WORLD,
    "others": REST_OF_WORLD,
    "rest of world": REST_OF_WORLD,
}

NON_COUNTRY_CODES: frozenset[str] = frozenset({WORLD, REST_OF_WORLD, "CIS", "ZA1", "PCZ"})


@lru_cache(maxsize=4096)
def iso3_from_comtrade(code: int) -> tuple[str, bool]:
    """ISO3 (or pseudo-code) of a Comtrade numeric reporter/partner code, and whether it is a country."""
    code = int(code)
    if code in COMTRADE_EXCEPTIONS:
        return COMTRADE_EXCEPTIONS[code]
    country = pycountry.countries.get(numeric=f"{code:03d}")
    if country is not None:
        return country.alpha_3, True
    historic = pycountry.historic_countries.get(numeric=f"{code:03d}")
    if historic is not None and len(getattr(historic, "alpha_3", "")) == 3:
        return historic.alpha_3, True
    return f"X{code:03d}", False


def _normalise_name(name: str) -> str:
    name = re.sub(r"\s+", " ", str(name)).strip().lower()
    name = re.sub(r"\s*\d+$", "", name)  # footnote digits glued to names ("China 4")
    return name.rstrip("*:. ").strip()


@lru_cache(maxsize=4096)
def iso3_from_name(name: str) -> str | None:
    """ISO3 of a country name as agencies print it; None where it names no country we know."""
    key = _normalise_name(name)
    if not key:
        return None
    if key in NAME_ALIASES:
        return NAME_ALIASES[key]
    if key.startswith("world"):
        return WORLD
    if key.startswith("other"):
        return REST_OF_WORLD
    try:
        return pycountry.countries.lookup(key).alpha_3
    except LookupError:
        pass
    try:
        matches = pycountry.countries.search_fuzzy(key)
    except LookupError:
        return None
    return matches[0].alpha_3 if len(matches) == 1 else None


def is_country(iso3: str) -> bool:
    """Whether a code names a country (not World, a group, "areas nes" or a rest-of-world line)."""
    return not (iso3 in NON_COUNTRY_CODES or (iso3.startswith("X") and iso3[1:].isdigit()))
