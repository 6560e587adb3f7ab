"""Citations in the code and the docs point at pages users have.

docs/reference.md is the page comments, docstrings, tests and docs cite for what the
project promises, by anchor (the path, `#` and the anchor) or by a section's title (the
path, a comma and the title in quotes). These tests fail when a file cites the unpublished spec
the reference replaced, when a cited anchor or title is not a heading of the reference,
and when the reference's reason codes or topics part from the code's.
"""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from streams.core.targeting import ELIGIBLE, RULES
from streams.runtime import topics

REPO = Path(__file__).resolve().parents[1]
REFERENCE_PATH = "docs/reference.md"
REFERENCE = REPO / REFERENCE_PATH
# Spelled apart so that this file does not cite what it looks for.
SPEC_WORD = "CON" + "TRACT"
SPEC_CITATION = re.compile(rf"\b{SPEC_WORD}\b")
ANCHOR_CITATION = re.compile(re.escape(REFERENCE_PATH) + r"#([\w-]+)")
TITLE_CITATION = re.compile(re.escape(REFERENCE_PATH) + r""", ["“']([^"”']+)["”']""")
LOCAL_LINK = re.compile(r"\]\(#([\w-]+)\)")
HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
EXPLICIT_ANCHOR = re.compile(r"""<a\s+(?:id|name)=["']([^"']+)["']""")
NUMBERING = re.compile(r"^\d+(\.\d+)*\.?\s+")

SECTIONS = ("1-commands", "2-environment", "3-topics", "4-message-shapes", "5-http", "6-config",
            "7-reason-codes")
MESSAGE_SHAPES = ("inbound-segment-messages", "user-state", "decisions", "outbound", "responses",
                  "scores", "dead-letter")
HTTP = ("ingestion", "eligibility", "widget-events", "admin", "service")
SKIPPED_DIRS = {".git", ".venv", "node_modules", "__pycache__", "var", "test-output", ".pytest_cache"}


def slug(title: str) -> str:
    """A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"<[^>]+>", "", title).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def headings(markdown: str) -> list[str]:
    """The titles of a page's headings, outside fenced code blocks."""
    titles, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        match = None if fenced else HEADING.match(line)
        if match:
            titles.append(match.group(2))
    return titles


def anchors(markdown: str) -> set[str]:
    """Every anchor a page has: its headings' (a repeated one gets -1, -2, ...), and <a id>."""
    found: set[str] = set(EXPLICIT_ANCHOR.findall(markdown))
    counts: dict[str, int] = {}
    for title in headings(markdown):
        base = slug(title)
        n = counts.get(base, 0)
        counts[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def titles(markdown: str) -> set[str]:
    """The headings' titles as cited: with and without their numbering ("4. Message shapes")."""
    return {form for title in headings(markdown) for form in (title, NUMBERING.sub("", title))}


def repo_files() -> list[Path]:
    """The repository's files (tracked, and new ones not ignored), else every file under it."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                                cwd=REPO, capture_output=True, check=True).stdout
        paths = [REPO / name for name in listed.decode("utf-8", "surrogateescape").split("\0") if name]
    except (OSError, subprocess.CalledProcessError):
        paths = [p for p in REPO.rglob("*") if not SKIPPED_DIRS & set(p.relative_to(REPO).parts)]
    return [p for p in paths if p.is_file()]


def text_files() -> list[tuple[str, str]]:
    """(path relative to the repository, text) of every file that is text."""
    result = []
    for path in repo_files():
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if "\0" not in text:
            result.append((path.relative_to(REPO).as_posix(), text))
    return result


def occurrences(pattern: re.Pattern, files) -> list[tuple[str, int, str]]:
    """(path, line number, the captured text or the match) of every match of `pattern`."""
    found = []
    for name, text in files:
        for number, line in enumerate(text.splitlines(), 1):
            for match in pattern.finditer(line):
                found.append((name, number, match.group(1) if pattern.groups else match.group(0)))
    return found


@pytest.fixture(scope="module")
def files():
    return text_files()


@pytest.fixture(scope="module")
def reference() -> str:
    return REFERENCE.read_text(encoding="utf-8")


# --- the helpers themselves -------------------------------------------------------------------

@pytest.mark.parametrize("title, expected", [
    ("4. Message shapes", "4-message-shapes"),
    ("Inbound Segment messages", "inbound-segment-messages"),
    ("`surveys.eligibility`: decisions", "surveyseligibility-decisions"),
    ("Choices made where the reference is silent", "choices-made-where-the-reference-is-silent"),
    ("5. HTTP", "5-http"),
])
def test_slug_is_githubs(title, expected):
    assert slug(title) == expected


def test_anchors_skip_code_and_number_repeats():
    page = "# Top\n\n```yaml\n# not a heading\n```\n\n## Scores\n\n### Scores\n<a id=\"kept\"></a>\n"
    assert anchors(page) == {"top", "scores", "scores-1", "kept"}
    assert titles("## 4. Message shapes\n") == {"4. Message shapes", "Message shapes"}


@pytest.mark.parametrize("line, cites", [
    (f"(see {SPEC_WORD} section 6)", True),
    (f"# {SPEC_WORD} 4.2: the user state", True),
    (f"{SPEC_WORD}.md", True),
    ("where the contract is silent", False),
    (f"{SPEC_WORD}_VERSION = 1", False),
])
def test_spec_citations_are_found(line, cites):
    assert bool(SPEC_CITATION.search(line)) is cites


def test_reference_citations_are_found():
    cited = [REFERENCE_PATH + "#" + "4-message-shapes", REFERENCE_PATH + ', "Decisions"']
    files = [("x.py", f"# {cited[0]}, and ({cited[1]})")]
    assert [found for _, _, found in occurrences(ANCHOR_CITATION, files)] == ["4-message-shapes"]
    assert [found for _, _, found in occurrences(TITLE_CITATION, files)] == ["Decisions"]


# --- the repository ---------------------------------------------------------------------------

def test_no_file_cites_the_unpublished_spec(files):
    offenders = [f"{name}:{number}" for name, number, _ in occurrences(SPEC_CITATION, files)]
    assert not offenders, f"cite {REFERENCE_PATH} and its section instead: {offenders}"


def test_every_cited_anchor_is_a_heading_of_the_reference(files, reference):
    known = anchors(reference)
    cited = occurrences(ANCHOR_CITATION, files)
    cited += [(REFERENCE_PATH, number, anchor) for _, number, anchor in
              occurrences(LOCAL_LINK, [(REFERENCE_PATH, reference)])]
    assert cited, "nothing cites the reference by anchor: is the pattern still right?"
    missing = [f"{name}:{number}: #{anchor}" for name, number, anchor in cited if anchor not in known]
    assert not missing, f"anchors not in {REFERENCE_PATH}: {missing}"


def test_every_cited_title_is_a_heading_of_the_reference(files, reference):
    known = titles(reference)
    missing = [f"{name}:{number}: {title!r}" for name, number, title in occurrences(TITLE_CITATION, files)
               if title not in known]
    assert not missing, f"section titles not in {REFERENCE_PATH}: {missing}"


def test_the_reference_keeps_its_section_anchors(reference):
    missing = [anchor for anchor in SECTIONS + MESSAGE_SHAPES + HTTP if anchor not in anchors(reference)]
    assert not missing


def _section(reference: str, anchor: str) -> str:
    """The text of the section whose heading has `anchor`, up to the next heading of its level."""
    lines, inside, level = reference.splitlines(), False, 0
    kept = []
    for line in lines:
        match = HEADING.match(line)
        if match and inside and len(match.group(1)) <= level:
            break
        if match and slug(match.group(2)) == anchor:
            inside, level = True, len(match.group(1))
            continue
        if inside:
            kept.append(line)
    assert kept, f"no section #{anchor}"
    return "\n".join(kept)


def _first_column(section: str) -> list[str]:
    """The code in the first cell of each table row (`code` | ...), in order."""
    return re.findall(r"^\| `([^`]+)` \|", section, flags=re.MULTILINE)


def test_reason_codes_are_the_rules_in_the_order_they_are_checked(reference):
    assert _first_column(_section(reference, "7-reason-codes")) == [*RULES, ELIGIBLE]


def test_public_topics_are_the_ones_the_code_names(reference):
    assert _first_column(_section(reference, "public-topics")) == list(topics.PUBLIC)
