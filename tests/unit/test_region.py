"""Regions are data: Flevoland and Midden-IJssel load from their files on the same code."""

from pathlib import Path

import pytest

from zorgstroom_runtime.region import load_region

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("file", "centre", "names"),
    [
        ("flevoland.toml", "0034", {"Almere", "Dronten", "Lelystad", "Noordoostpolder", "Urk", "Zeewolde"}),
        ("midden-ijssel.toml", "0150", {"Deventer", "Lochem", "Olst-Wijhe", "Raalte", "Zutphen"}),
    ],
)
def test_a_region_loads_with_its_municipalities(file: str, centre: str, names: set[str]) -> None:
    region = load_region(ROOT / "data/regions" / file, ROOT / "data/municipalities-nl.csv")
    assert region.centre_municipality == centre
    assert {m.name for m in region.municipalities.values()} == names
    assert len(region.national) == 342


def test_a_region_with_an_unknown_code_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "r.toml"
    file.write_text('code = "x1"\nname = "X"\ncentre_municipality = "0034"\nmunicipalities = ["0034", "9999"]\n')
    with pytest.raises(ValueError, match="9999"):
        load_region(file, ROOT / "data/municipalities-nl.csv")
