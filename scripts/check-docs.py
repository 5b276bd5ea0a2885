#!/usr/bin/env python3
"""Checks the documentation's cross-references, so a moved section or a renamed heading cannot
leave a dangling one behind:

- every relative link in README.md, CONTRIBUTING.md, docs/*.md and bindings-python/README.md
  names a file or folder of the repository and, with a #fragment, a heading of that file (GitHub's
  anchors: lower case, punctuation dropped, spaces as hyphens);
- every citation of the design in the sources ("docs/design.md, Locks", "docs/design.md, Data model
  and Limits") names headings that docs/design.md has, on one line, and nothing cites the old
  numbered DESIGN sections;
- every docs/<name>.md a source names exists.

Usage: python3 scripts/check-docs.py [ROOT]. Exits 1 and lists every problem found. Run by
scripts/test.sh (early, it takes a second) and scripts/docs.sh.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = ["README.md", "CONTRIBUTING.md", "bindings-python/README.md"]
SOURCES = (".rs", ".py", ".pyi", ".ts", ".mjs", ".js", ".cjs", ".sh", ".toml")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")
CITATION = "docs/design.md,"
SEPARATORS = (", ", " and ", " to ")


def prose_lines(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered from 1, with inline code spans blanked."""
    out, fenced = [], False
    for number, line in enumerate(text.split("\n"), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, re.sub(r"`[^`]*`", "``", line)))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = text.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def real_headings(path: Path) -> list[str]:
    """The text of every heading of a Markdown file (outside code blocks), as written."""
    out, fenced = [], False
    for line in path.read_text(encoding="utf-8").split("\n"):
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := re.match(r"^#{1,6}\s+(.*?)\s*$", line)):
            out.append(m.group(1))
    return out


def heading_anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    result = set()
    for heading in real_headings(path):
        base = slug(heading)
        n = seen.get(base, 0)
        seen[base] = n + 1
        result.add(base if n == 0 else f"{base}-{n}")
    return result


def check_links(root: Path, doc: Path) -> list[str]:
    problems = []
    for number, line in prose_lines(doc.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto: and the like
                continue
            path_part, _, fragment = target.partition("#")
            where = f"{doc.relative_to(root)}:{number}: link ({target})"
            dest = (doc.parent / path_part).resolve() if path_part else doc
            if path_part and not dest.exists():
                problems.append(f"{where}: {path_part} does not exist")
                continue
            if root.resolve() not in [dest, *dest.parents]:
                problems.append(f"{where}: points outside the repository")
                continue
            if fragment:
                if dest.suffix != ".md" or dest.is_dir():
                    problems.append(f"{where}: #{fragment} in a file that is not Markdown")
                elif fragment not in heading_anchors(dest):
                    problems.append(
                        f"{where}: {dest.relative_to(root.resolve())} has no heading #{fragment}"
                    )
    return problems


def check_citations(root: Path, files: list[Path]) -> list[str]:
    design = root / "docs" / "design.md"
    headings = sorted(real_headings(design)[1:], key=len, reverse=True) if design.exists() else []
    problems = []
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        rel = path.relative_to(root)
        for m in re.finditer(r"DESIGN §|DESIGN\.md", text):
            line = text.count("\n", 0, m.start()) + 1
            problems.append(f"{rel}:{line}: cites a design document the repository does not have")
        for m in re.finditer(r"docs/([\w-]+)\.md", text):
            if not (root / "docs" / f"{m.group(1)}.md").exists():
                line = text.count("\n", 0, m.start()) + 1
                problems.append(f"{rel}:{line}: docs/{m.group(1)}.md does not exist")
        for m in re.finditer(re.escape(CITATION), text):
            line = text.count("\n", 0, m.start()) + 1
            pos = m.end()
            if not text.startswith(" ", pos):
                problems.append(
                    f"{rel}:{line}: a citation of docs/design.md must name its section on the same line"
                )
                continue
            pos += 1
            while True:
                found = next(
                    (
                        h
                        for h in headings
                        if text.startswith(h, pos)
                        and not text[pos + len(h) : pos + len(h) + 1].isalnum()
                    ),
                    None,
                )
                if found is None:
                    shown = text[pos : pos + 30].split("\n")[0]
                    problems.append(f"{rel}:{line}: docs/design.md has no section '{shown}…'")
                    break
                pos += len(found)
                sep = next((s for s in SEPARATORS if text.startswith(s, pos)), None)
                if sep is None or not text[pos + len(sep) : pos + len(sep) + 1].isupper():
                    break
                pos += len(sep)
    return problems


def check(root: Path) -> list[str]:
    docs = [root / d for d in DOCS if (root / d).exists()] + sorted((root / "docs").glob("*.md"))
    problems = [p for doc in docs for p in check_links(root, doc)]
    try:
        listed = subprocess.run(
            ["git", "-C", str(root), "ls-files", "--cached", "--others", "--exclude-standard"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        listed = [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()]
    sources = [
        root / f
        for f in listed
        if f.endswith(SOURCES) and f != "scripts/check-docs.py" and (root / f).is_file()
    ]
    return problems + check_citations(root, sources)


def self_test() -> None:
    """The checker finds what it is for: a missing file, a missing anchor, a bad citation."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "docs").mkdir()
        (root / "docs" / "design.md").write_text("# d\n\n## Data model\n\n## Locks\n")
        (root / "README.md").write_text(
            "# r\n\n## Two words, `code`\n\n[ok](#two-words-code) [ok](docs/design.md#locks)\n"
            "[bad](docs/nothere.md) [bad](docs/design.md#leases) [bad](#nowhere)\n"
            "```sh\n[not a link](#in-code)\n```\n"
        )
        (root / "a.rs").write_text(
            "//! ok (docs/design.md, Locks and Data model)\n//! bad (docs/design.md, Leases)\n"
            "//! bad (DESIGN §7)\n//! bad (docs/design.md,\n//! Locks)\n"
        )
        found = check(root)
        expected = ["nothere.md", "#leases", "#nowhere", "'Leases)", "does not have", "same line"]
        missing = [e for e in expected if not any(e in p for p in found)]
        assert not missing and len(found) == len(expected), f"self-test: {found}"


def main() -> int:
    self_test()
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[1])
    problems = check(root)
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        print(f"check-docs: {len(problems)} broken reference(s)", file=sys.stderr)
        return 1
    print("check-docs: every link, anchor and design citation resolves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
