"""The stubs of the native module (interlock/_native.pyi, installed beside it) name exactly what
the module has: every module-level name and every public member of every class, both ways.
mypy.stubtest (scripts/test-python.sh) checks the signatures and reports what the module has
and the stubs lack, but not a read-only attribute (``key: Final[str]``) the stubs declare and
the module lacks; this test does."""

from __future__ import annotations

import ast
from pathlib import Path

import interlock._native as native


def stub_tree() -> ast.Module:
    path = Path(native.__file__).with_name("_native.pyi")
    return ast.parse(path.read_text(encoding="utf-8"))


def declared(body: list[ast.stmt]) -> set[str]:
    names: set[str] = set()
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_")}


def public(obj: object) -> set[str]:
    return {n for n in vars(obj) if not n.startswith("_")}


def test_the_stubs_declare_every_name_of_the_module_and_no_other() -> None:
    tree = stub_tree()
    assert declared(tree.body) == set(native.__all__)
    assert set(native.__all__) <= public(native)


def test_the_stubs_declare_every_member_of_every_class_and_no_other() -> None:
    classes = [node for node in stub_tree().body if isinstance(node, ast.ClassDef)]
    assert classes
    for node in classes:
        runtime = getattr(native, node.name)
        assert declared(node.body) == public(runtime), node.name


def test_the_check_can_fail() -> None:
    tree = ast.parse("class Entry:\n    key: str\n    bogus: str\n")
    node = tree.body[0]
    assert isinstance(node, ast.ClassDef)
    assert declared(node.body) != public(native.Entry)
