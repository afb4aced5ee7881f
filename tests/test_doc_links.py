"""Every relative link of the README and of docs/ resolves: the file exists and, for an
anchor, the page has that heading (GitHub's anchors: lowercase, punctuation dropped,
spaces as hyphens, `-1`, `-2` for repeats). The README stays short and reaches every
page of docs/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.harness import ROOT

DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
LINK = re.compile(r"\]\(((?!https?:|mailto:)[^)\s]+)\)")
# The pages a topic's documentation goes into (the team's names).
TOPIC_PAGES = {
    "configuration",
    "engines",
    "operations",
    "backups-and-restore",
    "monitoring",
    "networking",
    "ci-cd",
    "component-package",
    "policy-pack",
    "testing",
}


def slug(title: str) -> str:
    title = re.sub(r"[^\w\- ]", "", title.strip().lower().replace("`", ""))
    return title.replace(" ", "-")


def outside_code(text: str) -> list[str]:
    lines, fence = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence:
            lines.append(line)
    return lines


def anchors(text: str) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in outside_code(text):
        heading = re.match(r"^#{1,6} (.*)$", line)
        if heading:
            name = slug(heading.group(1))
            count = seen.get(name, 0)
            found.add(name if count == 0 else f"{name}-{count}")
            seen[name] = count + 1
        found |= set(re.findall(r'<a (?:id|name)="([^"]+)"', line))
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for line in outside_code(page.read_text()):
        for target in LINK.findall(line):
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                broken.append(f"{target}: no such file")
            elif (
                anchor and resolved.suffix == ".md" and anchor not in anchors(resolved.read_text())
            ):
                broken.append(f"{target}: {resolved.name} has no heading #{anchor}")
    return broken


def test_anchor_rules_follow_github() -> None:
    assert slug("Prerequisites for `cloudnative-pg` (once per cluster)") == (
        "prerequisites-for-cloudnative-pg-once-per-cluster"
    )
    assert slug("The app's own settings") == "the-apps-own-settings"
    assert anchors("# A\n## A\n```\n# not a heading\n```\n") == {"a", "a-1"}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_every_relative_link_resolves(page: Path) -> None:
    assert broken_links(page) == []


def test_the_link_check_catches_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other\n\n## Real section\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#real-section) [gone](missing.md) [bad](other.md#nothing)\n"
        "```\n[in code](nowhere.md)\n```\n"
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#nothing: other.md has no heading #nothing",
    ]


def test_readme_fits_on_a_few_screens_and_links_every_page() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 300
    linked = {Path(target.partition("#")[0]).stem for target in LINK.findall(readme)}
    pages = {page.stem for page in DOCS.glob("*.md")}
    assert pages >= TOPIC_PAGES
    assert pages - linked == set(), "README does not link these docs/ pages"
