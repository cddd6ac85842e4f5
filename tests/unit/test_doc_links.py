"""Every relative link in the README and docs/ points at a file that exists in the repository."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "contracts" / "CHANGELOG.md"]
LINK = re.compile(r"\[[^\]]+\]\(([^)\s]+)\)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_relative_link_resolves(document: Path) -> None:
    broken = []
    for target in LINK.findall(document.read_text(encoding="utf-8")):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue  # absolute URLs and anchors within the page
        if not (document.parent / target.split("#", 1)[0]).exists():
            broken.append(target)
    assert not broken, f"{document.name} links to missing files: {broken}"


RULE_LINK = re.compile(r"\[`([A-Za-z_][A-Za-z0-9_.]*)`\]\(([^)\s#]+\.py)\)")


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_link_to_a_rule_names_a_function_or_class_in_that_file(document: Path) -> None:
    """docs/domain.md links each rule to the function that holds it: [`is_relapse`](../services/...py)."""
    missing = []
    for name, target in RULE_LINK.findall(document.read_text(encoding="utf-8")):
        source = (document.parent / target).read_text(encoding="utf-8")
        last = name.rsplit(".", 1)[-1]
        if not re.search(rf"^\s*(async def|def|class) {re.escape(last)}\b", source, re.MULTILINE):
            missing.append(f"{name} in {target}")
    assert not missing, f"{document.name} names functions its links do not hold: {missing}"


SOURCES = [
    path
    for folder in ("contracts/src", "services", "ops/src", "bench", "data")
    for path in sorted((ROOT / folder).rglob("*"))
    if path.suffix in {".py", ".toml", ".js", ".html"} and "vendor" not in path.parts
]


def test_code_cites_the_repository_s_own_docs_not_notes_a_clone_lacks() -> None:
    # The team's DOMAIN.md and DESIGN.md are not part of the repository; docs/ is.
    citing = [str(p.relative_to(ROOT)) for p in SOURCES if re.search(r"\bD(OMAIN|ESIGN)\.md\b", p.read_text("utf-8"))]
    assert not citing, f"cite docs/domain.md or docs/architecture.md instead: {citing}"
