"""Builds the Python package's API reference with pdoc (run by scripts/docs.sh with the Python of
the test venv, into which the package and pdoc are installed): pdoc-python.py OUTPUT_DIR.

The blocking and asyncio classes share the members that are the same in both from private
generic bases (interlock/_shared.py). pdoc would list those members under "inherited from" a
module it does not document, typed with the bases' type variables; here they are documented as
each public class's own, typed with its own classes (``AsyncClient.lock() -> AsyncLock``).
"""

from __future__ import annotations

import functools
import inspect
import sys
import typing
from pathlib import Path
from typing import Any

import pdoc
import pdoc.doc
import pdoc.render

SHARED = "interlock._shared"


def owner(doc: pdoc.doc.Doc[Any]) -> type:
    """The public class `doc` (a member) is documented under."""
    cls: Any = sys.modules[doc.modulename]
    for name in doc.qualname.split(".")[:-1]:
        cls = getattr(cls, name)
    assert isinstance(cls, type)
    return cls


def type_arguments(cls: type) -> dict[object, object]:
    """The type variables of `cls`'s generic bases, bound to what `cls` gives them, and Self."""
    bound: dict[object, object] = {}
    for base in getattr(cls, "__orig_bases__", ()):
        origin = typing.get_origin(base)
        for var, arg in zip(getattr(origin, "__parameters__", ()), typing.get_args(base)):
            if isinstance(arg, typing.ForwardRef):
                arg = vars(sys.modules[cls.__module__])[arg.__forward_arg__]
            bound[var] = arg
    bound[typing.Self] = cls  # Python 3.11 and later, as docs.sh requires
    return bound


own_members = pdoc.doc.Class.own_members.func  # type: ignore[attr-defined]
signature = pdoc.doc.Function.signature.func  # type: ignore[attr-defined]


def own_and_shared_members(self: pdoc.doc.Class) -> list[pdoc.doc.Doc[Any]]:
    members: list[pdoc.doc.Doc[Any]] = own_members(self)
    shared = [m for m in self.members.values() if m.taken_from[0] == SHARED]
    return members + sorted(shared, key=lambda m: m.name)


def concrete_signature(self: pdoc.doc.Function) -> inspect.Signature:
    sig: inspect.Signature = signature(self)
    if self.taken_from[0] != SHARED:
        return sig
    bound = type_arguments(owner(self))

    def concrete(annotation: object) -> object:
        return bound.get(annotation, annotation)

    return sig.replace(
        parameters=[p.replace(annotation=concrete(p.annotation)) for p in sig.parameters.values()],
        return_annotation=concrete(sig.return_annotation),
    )


def public_bases(self: pdoc.doc.Class) -> list[tuple[str, str, str]]:
    return [b for b in bases(self) if not b[0].startswith(SHARED)]


bases = pdoc.doc.Class.bases.func  # type: ignore[attr-defined]
for cls, name, fn in (
    (pdoc.doc.Class, "own_members", own_and_shared_members),
    (pdoc.doc.Function, "signature", concrete_signature),
    (pdoc.doc.Class, "bases", public_bases),
):
    prop = functools.cached_property(fn)
    prop.__set_name__(cls, name)
    setattr(cls, name, prop)

pdoc.render.configure(docformat="restructuredtext")
pdoc.pdoc("interlock", "interlock.aio", output_directory=Path(sys.argv[1]))
