"""Arguments of the wrong type or out of range, refused at the call that takes them (not at a later
commit or save), by both the blocking and the asyncio API, with InvalidArgumentError naming the
argument, the value and the rule in interlock's words (never pyo3's); and connect's checks of
its URL, token and keyword options."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

import interlock
import interlock.aio
from interlock import InvalidArgumentError

FOREIGN = ("pyo3", "PyString", "PyInt", "cannot be converted", "Rust", "serde", "napi")


@pytest.fixture
def mem() -> Iterator[interlock.Client]:
    client = interlock.connect("mem://")
    yield client
    client.close()


def refused(call: Callable[[], object], *words: str) -> str:
    """The message of the InvalidArgumentError `call` raises, which must contain `words` and
    nothing of the bindings' machinery."""
    with pytest.raises(InvalidArgumentError) as raised:
        call()
    message = str(raised.value)
    for word in words:
        assert word in message, (word, message)
    for word in FOREIGN:
        assert word not in message, (word, message)
    return message


def in_asyncio(test: Callable[[interlock.aio.AsyncClient], Any]) -> None:
    async def main() -> None:
        async with await interlock.aio.connect("mem://") as db:
            await test(db)

    asyncio.run(main())


# sessions


def test_load_many_refuses_a_str_instead_of_a_list_of_keys(mem: interlock.Client) -> None:
    mem.set("a", 1)
    session = mem.session()
    refused(lambda: session.load_many("ab"), "the keys of load_many", "str 'ab'")
    refused(lambda: session.load_many(["a", 2]), "the keys of load_many[1]", "int 2")
    assert session.loaded_index("a") is None  # nothing was loaded
    assert session.load_many(["a"]) == {"a": 1}

    async def test(db: interlock.aio.AsyncClient) -> None:
        s = db.session()
        with pytest.raises(InvalidArgumentError, match="the keys of load_many"):
            await s.load_many("ab")

    in_asyncio(test)


def test_session_compare_exchange_needs_a_non_negative_integer_index(
    mem: interlock.Client,
) -> None:
    session = mem.session()
    for index in (None, -1, True, "1", 1.0):
        refused(lambda i=index: session.put_compare_exchange("k", 1, i), "index", "'k'")
        refused(lambda i=index: session.delete_compare_exchange("k", i), "index", "'k'")
    assert not session.has_changes
    session.put_compare_exchange("k", 1, 0)
    assert session.save_changes() is not None
    assert mem.get("k").value == 1  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda s: s.load(42), ["the key of load must be a str", "int 42"]),
        (lambda s: s.store(42, 1), ["the key of store must be a str", "int 42"]),
        (lambda s: s.delete(b"k"), ["the key of delete must be a str", "bytes b'k'"]),
        (lambda s: s.loaded_index(None), ["the key of loaded_index must be a str", "None"]),
        (lambda s: s.put_compare_exchange(1, 1, 0), ["the key of put_compare_exchange", "int 1"]),
    ],
)
def test_session_keys_must_be_str(mem: interlock.Client, call: Any, words: list[str]) -> None:
    refused(lambda: call(mem.session()), *words)


def test_session_optimistic_must_be_a_bool(mem: interlock.Client) -> None:
    refused(lambda: mem.session(optimistic=1), "optimistic", "True or False", "1")  # type: ignore[arg-type]


# transactions


def test_txn_steps_are_checked_when_added_not_at_commit(mem: interlock.Client) -> None:
    txn = mem.txn()
    refused(lambda: txn.delete(42), "the key of delete must be a str", "int 42")  # type: ignore[arg-type]
    refused(lambda: txn.delete("k", "3"), "the index of delete 'k'", "str '3'")  # type: ignore[arg-type]
    refused(lambda: txn.check("k", None), "the index of check 'k'", "None")  # type: ignore[arg-type]
    refused(lambda: txn.check("k", 1.5), "the index of check 'k'", "float 1.5")  # type: ignore[arg-type]
    assert len(txn) == 0
    assert txn.set("k", 1).commit() > 0


def test_txn_require_takes_a_lock(mem: interlock.Client) -> None:
    message = refused(lambda: mem.txn().require("x"), "the lock of require", "str 'x'")  # type: ignore[arg-type]
    assert "lock" in message

    async def test(db: interlock.aio.AsyncClient) -> None:
        with pytest.raises(InvalidArgumentError, match="the lock of require"):
            db.txn().require(object())  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match="the key of delete"):
            db.txn().delete(42)  # type: ignore[arg-type]

    in_asyncio(test)


def test_other_wrong_types_are_worded_by_interlock(mem: interlock.Client) -> None:
    refused(lambda: mem.list("", limit="5"), "the list limit", "str '5'")  # type: ignore[arg-type]
    refused(lambda: mem.delete("k", index="1"), "the index for 'k'", "str '1'")  # type: ignore[arg-type]
    refused(lambda: mem.watch("", from_index=1.5), "from_index", "float 1.5")  # type: ignore[arg-type]


def test_a_lease_argument_names_what_it_takes(mem: interlock.Client) -> None:
    refused(lambda: mem.keepalive("x"), "lease must be a Lease, a lease id or None", "str 'x'")
    refused(lambda: mem.set("k", 1, lease=1.5), "lease must be a Lease, a lease id", "float 1.5")
    refused(lambda: mem.lock("a", lease=5), "lease must be a Lease or None", "int 5")
    assert mem.get("k") is None


# connect


def test_connect_refuses_an_empty_url() -> None:
    refused(lambda: interlock.connect(""), "the store URL must not be empty")
    refused(lambda: interlock.connect("  "), "the store URL must not be empty")
    with pytest.raises(InvalidArgumentError, match="must not be empty"):
        asyncio.run(interlock.aio.connect(""))


def test_connect_refuses_a_url_or_token_of_the_wrong_type() -> None:
    refused(lambda: interlock.connect(42), "the store URL must be a str or None", "int 42")  # type: ignore[arg-type]
    refused(lambda: interlock.connect("mem://", token=5), "token must be a str or None", "int 5")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="token must be a str"):
        asyncio.run(interlock.aio.connect("mem://", token=b"t"))  # type: ignore[arg-type]


def test_an_unknown_keyword_option_lists_the_known_ones(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'a.db'}"
    message = refused(lambda: interlock.connect(url, sinc="normal"), "unknown option 'sinc'")
    assert "known: token, max_value_bytes, sync" in message
    assert "?" not in message  # no synthesized URL
    message = refused(lambda: interlock.connect("mem://", sync="normal"), "unknown option 'sync'")
    assert "known: token, max_value_bytes" in message


def test_an_unknown_option_in_the_url_lists_the_known_ones(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'a.db'}?sinc=normal"
    refused(lambda: interlock.connect(url), "unknown option 'sinc'", "max_value_bytes, sync")


def test_keyword_option_values_cannot_smuggle_another_option(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'a.db'}"
    refused(lambda: interlock.connect(url, sync="normal&max_value_bytes=5"), "sync=")
    with interlock.connect(url, sync="normal", max_value_bytes=100) as db:
        db.set("k", "x" * 50)
        with pytest.raises(InvalidArgumentError, match="limit is 100 bytes"):
            db.set("k", "x" * 200)


# timeouts


def test_the_longest_timeout_is_the_cores_longest_duration(mem: interlock.Client) -> None:
    """9e9 s (the core's longest lease TTL, and what the Node package takes) is accepted, a
    longer one refused, as for a TTL."""
    lock = mem.lock("printer")
    assert lock.acquire(timeout=9e9)
    lock.release()
    for too_long in (9e9 + 1, 1e10):
        refused(lambda t=too_long: mem.lock("printer").acquire(timeout=t), "timeout", "9000000000")
        refused(lambda t=too_long: mem.lock("printer", timeout=t), "timeout")
        refused(lambda t=too_long: mem.lease(5).wait_lost(t), "timeout")
        refused(lambda t=too_long: mem.lock("printer", ttl=t), "ttl")
    assert mem.lock_queue("printer") == []


def test_a_transaction_commits_once(tmp_path: Path) -> None:
    """A second commit (a retry after a timeout, say) would write again: it is refused, and so
    is a step added after the commit; nothing more is written. Blocking and asyncio."""
    db = interlock.connect(f"sqlite://{tmp_path / 'once.db'}")
    try:
        txn = db.txn().set("a", 1)
        index = txn.commit()
        refused(txn.commit, "committed already", "txn()")
        refused(lambda: txn.set("b", 2), "committed already")
        refused(lambda: txn.check("a", index), "committed already")
        assert db.index() == index
        assert db.get("b") is None
    finally:
        db.close()

    async def main() -> None:
        adb = await interlock.aio.connect(f"sqlite://{tmp_path / 'once.db'}")
        try:
            atxn = adb.txn().set("c", 3)
            first = await atxn.commit()
            with pytest.raises(InvalidArgumentError, match="committed already"):
                await atxn.commit()
            refused(lambda: atxn.delete("c"), "committed already")
            assert await adb.index() == first
        finally:
            await adb.close()

    asyncio.run(main())
