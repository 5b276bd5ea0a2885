#!/usr/bin/env python3
"""Checks that the public names of every interlock package are the ones docs/vocabulary.md lists.

Usage: check-vocabulary.py [--rust] [--python PYTHON] [--dts NAME=PATH ...]

The table in docs/vocabulary.md is the one place names are agreed: a row names one thing in every
package (Rust, Python, Python asyncio, JavaScript: Node and WebAssembly). This script fails when

- a row is not the same name in every column (after snake_case/camelCase normalisation) or is
  missing from a column, unless its notes start with "Exception" (the allow-list: every
  exception is documented in that row);
- a package has a public name the table does not list, or lacks one it lists:
  --rust:   the core crate's public types (their `pub fn`s and `pub` fields, read from every file under core/src);
  --python: the `interlock` and `interlock.aio` modules as installed for PYTHON (introspected);
  --dts:    a built JavaScript package's declarations (bindings-node/dist/index.d.ts, or the
            WebAssembly package's), checked against the JavaScript column.

It prints every difference and exits 1 if there is one.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "vocabulary.md"
COLUMNS = ("rust", "python", "aio", "js")
ABSENT = {"—", "-", ""}
SAME = "same"
"""An asyncio cell reading "same": the `interlock` module's name, used from `interlock.aio` too
(records, errors, module functions that have no asyncio form)."""


def normalise(name: str, column: str) -> str:
    """The name as a word list, whatever the case convention: `wait_lost`, `waitLost` and
    Rust's `is_lost` (a property's getter) all normalise alike."""
    name = name.strip("`").split("(")[0].strip()
    if column == "rust" and name.startswith("is_"):
        name = name[3:]
    if column == "aio" and name.startswith("Async"):
        name = name[5:]
    return name.replace("_", "").lower()


def cell_name(cell: str) -> str | None:
    cell = cell.strip()
    if cell in ABSENT:
        return None
    if cell == SAME:
        return SAME
    m = re.match(r"`([^`]+)`", cell)
    if not m:
        raise SystemExit(f"docs/vocabulary.md: a name cell must be `name` or —, not {cell!r}")
    return m.group(1).split("(")[0].strip()


def read_doc() -> tuple[dict[str, dict[str, str | None]], dict[str, list[tuple[dict, str]]]]:
    """The classes table (concept -> the class name per column) and, per concept, its rows
    (names per column, notes)."""
    classes: dict[str, dict[str, str | None]] = {}
    members: dict[str, list[tuple[dict, str]]] = {}
    section = None
    for line in DOC.read_text().splitlines():
        heading = re.match(r"^### (.+)$", line)
        if heading:
            section = heading.group(1).strip().strip("`")
            continue
        if line.startswith("## "):
            section = None
            continue
        if section is None or not line.startswith("|") or set(line) <= set("|-: "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "Rust" or len(cells) < 5:
            continue
        names = {col: cell_name(c) for col, c in zip(COLUMNS, cells[:4])}
        if names["aio"] == SAME:
            names["aio"] = names["python"]
            names["aio_same"] = "yes"
        notes = cells[4]
        if section == "Types":
            classes[names["js"] or names["python"] or names["rust"] or "?"] = names
            members.setdefault("Types", []).append((names, notes))
        else:
            members.setdefault(section, []).append((names, notes))
    return classes, members


def check_rows(members: dict[str, list[tuple[dict, str]]]) -> list[str]:
    problems = []
    for section, rows in members.items():
        for names, notes in rows:
            present = {c: names[c] for c in COLUMNS if names[c] is not None}
            forms = {normalise(n, c) for c, n in present.items()}
            same = len(forms) == 1 and len(present) == len(COLUMNS)
            if not same and not notes.lower().startswith("exception"):
                shown = ", ".join(f"{c}: {names[c] or '—'}" for c in COLUMNS)
                problems.append(
                    f"{section}: the row ({shown}) differs between packages and its notes do "
                    "not start with 'Exception' and say why"
                )
    return problems


def compare(what: str, column: str, documented: set[str], found: set[str]) -> list[str]:
    problems = []
    for name in sorted(found - documented):
        problems.append(f"{what} has {name}, which docs/vocabulary.md does not list ({column})")
    for name in sorted(documented - found):
        problems.append(f"docs/vocabulary.md lists {name} ({column}), which {what} does not have")
    return problems


def documented(classes, members, column: str) -> set[str]:
    """`Class.member` and bare `name` (module level) for one column."""
    out: set[str] = set()
    for concept, rows in members.items():
        if concept == "Types":
            for names, _ in rows:
                if names[column] and not (column == "aio" and names.get("aio_same")):
                    out.add(names[column])
            continue
        cls = classes.get(concept) or {}
        owner = None if concept == "Functions" else cls.get(column)
        if concept != "Functions" and (owner is None or (column == "aio" and cls.get("aio_same"))):
            continue
        for names, _ in rows:
            if column == "aio" and names.get("aio_same"):
                continue
            if names[column]:
                out.add(names[column] if owner is None else f"{owner}.{names[column]}")
    return out


# ---- Rust ---------------------------------------------------------------------------------------


def rust_names(types: set[str]) -> set[str]:
    out: set[str] = set()
    lib = (ROOT / "core/src/lib.rs").read_text()
    for group in re.findall(r"^pub use [\w:]+::\{?([^};]+)\}?;", lib, re.M):
        for name in (n.strip() for n in group.split(",")):
            if name and (name[0].islower() or name in types):
                out.add(name)
    for path in sorted((ROOT / "core/src").rglob("*.rs")):
        text = path.read_text()
        text = text.split("#[cfg(test)]\nmod tests")[0]
        for m in re.finditer(r"^impl(?:<[^>]*>)? (\w+) \{\n(.*?)^\}", text, re.M | re.S):
            owner = m.group(1)
            if owner not in types:
                continue
            for f in re.findall(r"^    pub (?:async )?fn (\w+)", m.group(2), re.M):
                out.add(f"{owner}.{f}")
        for m in re.finditer(r"^pub struct (\w+)(?:<[^>]*>)? \{\n(.*?)^\}", text, re.M | re.S):
            if m.group(1) in types:
                for f in re.findall(r"^    pub (\w+):", m.group(2), re.M):
                    out.add(f"{m.group(1)}.{f}")
    return {n for n in out if n.split(".")[0] in types or "." not in n}


# ---- Python -------------------------------------------------------------------------------------

PYTHON_PROBE = r"""
import inspect, json, interlock, interlock.aio
def members(cls):
    if issubclass(cls, BaseException):
        # The attributes every interlock error has, declared on the base class.
        if cls is not interlock.InterlockError:
            return []
        return [n for n in list(vars(cls)) + list(cls.__annotations__) if not n.startswith('_')]
    skip = set(dir(object)) | (set(dir(tuple)) if issubclass(cls, tuple) else set())
    names = []
    for n in dir(cls):
        if n.startswith('_') or n in skip:
            continue
        names.append(n)
    if hasattr(cls, '_fields'):
        names += list(cls._fields)
    return sorted(set(names))
out = {}
for module, key in ((interlock, 'python'), (interlock.aio, 'aio')):
    names = []
    for n in module.__all__:
        obj = getattr(module, n)
        if inspect.ismodule(obj):
            continue
        names.append(n)
        if inspect.isclass(obj):
            names += [f'{n}.{m}' for m in members(obj)]
    out[key] = names
print(json.dumps(out))
"""


def python_names(python: str) -> dict[str, set[str]]:
    text = subprocess.run(
        [python, "-c", PYTHON_PROBE], check=True, capture_output=True, text=True
    ).stdout
    return {k: set(v) for k, v in json.loads(text).items()}


# ---- JavaScript ---------------------------------------------------------------------------------


def dts_names(path: Path) -> set[str]:
    """Exported classes (public members), interfaces (fields), functions and re-exports of a
    tsc-generated declaration file and the declaration files it re-exports from."""
    out: set[str] = set()
    text = path.read_text()
    for group in re.findall(r"^export (?:type )?\{([^}]*)\} from '\./(\w+)\.js';", text, re.M):
        for name in group[0].split(","):
            name = name.strip()
            if not name:
                continue
            out.add(name)
            sub = path.parent / f"{group[1]}.d.ts"
            out |= {n for n in dts_names(sub) if n.startswith(name + ".")}
    for kind, name, body in re.findall(
        r"^export (?:declare )?(class|interface) (\w+)[^{\n]*\{\n(.*?)^\}", text, re.M | re.S
    ):
        out.add(name)
        for line in body.splitlines():
            m = re.match(
                r"^    (?:readonly |static |get |set |async )*([A-Za-z]\w*)\??[(:<]", line
            )
            if m and m.group(1) not in ("constructor",):
                out.add(f"{name}.{m.group(1)}")
    out |= set(re.findall(r"^export declare function (\w+)", text, re.M))
    out |= set(re.findall(r"^export type (\w+)", text, re.M))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rust", action="store_true")
    parser.add_argument("--python")
    parser.add_argument("--dts", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument(
        "--fake",
        metavar="NAME",
        help="pretend every package checked also has NAME (e.g. Client.fakeName): the check must "
        "then fail, which the test scripts verify, so that it is known to be able to",
    )
    args = parser.parse_args()
    fake = {args.fake} if args.fake else set()

    classes, members = read_doc()
    problems = check_rows(members)
    if args.rust:
        types = {c["rust"] for c in classes.values() if c["rust"]}
        problems += compare(
            "the Rust core", "Rust", documented(classes, members, "rust"),
            rust_names(types) | fake,
        )
    if args.python:
        found = python_names(args.python)
        problems += compare(
            "interlock (Python)", "Python", documented(classes, members, "python"),
            found["python"] | fake,
        )
        problems += compare(
            "interlock.aio (Python)", "Python asyncio", documented(classes, members, "aio"),
            found["aio"] | fake,
        )
    for spec in args.dts:
        name, _, path = spec.partition("=")
        problems += compare(
            f"the {name} package ({path})", "JavaScript", documented(classes, members, "js"),
            dts_names(Path(path)) | fake,
        )
    for p in problems:
        print(f"check-vocabulary: {p}", file=sys.stderr)
    if problems:
        print(
            f"check-vocabulary: {len(problems)} difference(s); make the packages match "
            "docs/vocabulary.md, or document the exception in its row",
            file=sys.stderr,
        )
        return 1
    checked = ["rows"] + (["Rust"] if args.rust else []) + (["Python"] if args.python else [])
    checked += [s.partition("=")[0] for s in args.dts]
    print(f"check-vocabulary: docs/vocabulary.md matches ({', '.join(checked)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
