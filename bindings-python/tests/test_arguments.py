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


def test_txn_keys_and_values_are_checked_when_added(mem: interlock.Client) -> None:
    """A key or value the store would refuse is refused at the step's call, and the step is left
    out: the rest of the transaction still commits."""
    txn = mem.txn().set("ok", 1)
    refused(lambda: txn.set("", 1), "key must not be empty")
    refused(lambda: txn.set("@x", 1), "key '@x' is reserved")
    refused(lambda: txn.put("@x", 1, 0), "key '@x' is reserved")
    refused(lambda: txn.delete("@x"), "key '@x' is reserved")
    refused(lambda: txn.check("", 0), "key must not be empty")
    refused(lambda: txn.set("k", object()), "the value for 'k' is not JSON: an object")
    refused(lambda: txn.set("k" * 600, 1), "keys are at most 512 bytes")
    assert len(txn) == 1
    assert txn.commit() > 0
    assert mem.get("ok") is not None and mem.get("k") is None

    async def test(db: interlock.aio.AsyncClient) -> None:
        atxn = db.txn().set("ok", 1)
        with pytest.raises(InvalidArgumentError, match="reserved"):
            atxn.set("@x", 1)
        assert len(atxn) == 1
        assert await atxn.commit() > 0

    in_asyncio(test)


def test_txn_steps_are_admitted_one_by_one(mem: interlock.Client) -> None:
    """What the store would refuse of the steps together is refused by the step that breaks it:
    a second write of a key, a check at a second index, a step past the limit, another client's
    lock, a closed client."""
    txn = mem.txn().set("ok", 1)
    refused(lambda: txn.set("ok", 2), "writes key 'ok' twice")
    txn.check("c", 0).check("c", 0)
    refused(lambda: txn.check("c", 5), "checks key 'c' at two different indexes (0 and 5)")
    for i in range(125):
        txn.check(f"limit/{i}", 0)
    assert len(txn) == 128
    refused(lambda: txn.set("over", 1), "would have 129 checks and ops; the limit is 128")
    other = interlock.connect("mem://")
    theirs = other.lock("x")
    assert theirs.acquire()
    refused(lambda: txn.require(theirs), "lock 'x' belongs to another client")
    assert txn.commit() > 0
    assert mem.get("ok") is not None and mem.get("over") is None
    other.close()
    closing = interlock.connect("mem://")
    late = closing.txn()
    closing.close()
    refused(lambda: late.set("k", 1), "closed")


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


def test_a_lease_object_of_another_client_is_refused(tmp_path: Path) -> None:
    """Lease ids are the store's: a Lease object passed to another client could name an
    unrelated lease of that client's store (two mem:// stores both number from 1), so every
    call that takes a lease refuses it; its id is still accepted where the store is shared."""
    a, b = interlock.connect("mem://"), interlock.connect("mem://")
    mine, theirs = a.lease(5), b.lease(5)
    assert mine.id == theirs.id  # the danger: the same number names two leases
    held = a.lock("printer", lease=mine)
    assert held.acquire()
    calls: dict[str, Callable[[], object]] = {
        "revoke": lambda: a.revoke(theirs),
        "keepalive": lambda: a.keepalive(theirs),
        "time_to_live": lambda: a.time_to_live(theirs),
        "set": lambda: a.set("k", 1, lease=theirs),
        "put": lambda: a.put("k", 1, 0, lease=theirs),
        "lock": lambda: a.lock("other", lease=theirs),
        "txn.set": lambda: a.txn().set("k", 1, lease=theirs),
        "txn.put": lambda: a.txn().put("k", 1, 0, lease=theirs),
    }
    for name, call in calls.items():
        message = refused(call, f"lease {theirs.id} belongs to another client", "mem://")
        assert "pass its id" in message, name
    assert not mine.lost and held.held and not held.lost
    assert a.get("k") is None
    held.release()
    for client in (a, b):
        client.close()

    # On one shared store, the id names the same lease through either client.
    path = tmp_path / "shared.db"
    c, d = interlock.connect(f"sqlite://{path}"), interlock.connect(f"sqlite://{path}")
    lease = d.lease(5)
    refused(lambda: c.keepalive(lease), "belongs to another client")
    assert c.keepalive(lease.id) == 5
    assert c.revoke(lease.id)
    assert lease.wait_lost(10)
    c.close()
    d.close()

    async def test(db: interlock.aio.AsyncClient) -> None:
        other = interlock.connect("mem://")
        sync_lease = other.lease(5)
        with pytest.raises(InvalidArgumentError, match="belongs to another client"):
            await db.revoke(sync_lease)
        with pytest.raises(InvalidArgumentError, match="belongs to another client"):
            db.lock("x", lease=sync_lease)
        own = await db.lease(5)
        assert await db.keepalive(own) == 5
        other.close()

    in_asyncio(test)


def test_none_means_the_default(mem: interlock.Client) -> None:
    """None stands for an argument not given, as null and undefined do in JavaScript."""
    lock = mem.lock("a", ttl=None, timeout=None, owner=None, lease=None, on_lost=None)
    assert lock.acquire()
    ttl_left = mem.lock_queue("a")[0].ttl_left
    assert ttl_left is not None and 10 < ttl_left <= interlock.DEFAULT_TTL
    lock.release()
    assert mem.list("", after=None, limit=None).entries == []
    assert mem.set("k", 1, lease=None) > 0
    assert mem.delete("k", None).successful
    refused(lambda: mem.lease(None), "ttl")  # type: ignore[arg-type]


def test_text_that_is_not_unicode_is_refused_naming_it(mem: interlock.Client) -> None:
    """A lone surrogate (what os.fsdecode makes of undecodable bytes) has no UTF-8 form."""
    bad = "a\ud800b"
    refused(lambda: mem.set(bad, 1), "the key of set 'a\\ud800b' is not valid Unicode", "U+D800")
    refused(lambda: mem.get(bad), "the key of get", "not valid Unicode")
    refused(lambda: mem.txn().set(bad, 1), "the key of set", "not valid Unicode")
    refused(lambda: mem.lock(bad), "the lock name", "not valid Unicode")
    refused(lambda: mem.watch(bad), "the prefix of watch", "not valid Unicode")
    refused(lambda: mem.session().store(bad, 1), "the key of store", "not valid Unicode")
    refused(lambda: mem.set("k", {"v": bad}), "the value for 'k'", "not valid Unicode")
    assert mem.list("").entries == []
    assert mem.set("\U0001f512", "\U0001f512") > 0  # a surrogate pair in UTF-16 is fine here


def nested(levels: int) -> Any:
    value: Any = 1
    for i in range(levels):
        value = {"k": value} if i % 2 else [value]
    return value


def test_a_value_nests_at_most_100_levels_and_reads_back(mem: interlock.Client) -> None:
    """The core's limit, well within what every package's JSON reader parses back."""
    mem.set("deep", nested(100))
    entry = mem.get("deep")
    assert entry is not None and entry.value == nested(100)
    assert [e.key for e in mem.list("dee").entries] == ["deep"]
    for levels in (101, 128, 500):
        refused(lambda n=levels: mem.set("k", nested(n)), "more than 100 levels deep, the limit")
        refused(lambda n=levels: mem.txn().set("k", nested(n)), "more than 100 levels deep")
    assert mem.get("k") is None


def test_a_cyclic_value_is_refused_in_a_short_message(mem: interlock.Client) -> None:
    looped: list[Any] = []
    looped.append(looped)
    message = refused(lambda: mem.set("k", looped), "the value for 'k' is not JSON at $[0]", "…")
    assert "a cycle?" in message and len(message) < 200, message


def test_callbacks_must_be_plain_functions(mem: interlock.Client) -> None:
    async def coroutine_function() -> None:
        pass

    refused(lambda: mem.lock("a", on_lost=coroutine_function), "plain function", "coroutine")
    refused(lambda: mem.lease(5).on_lost(coroutine_function), "plain function")


def test_scan_names_page_size(mem: interlock.Client) -> None:
    refused(lambda: list(mem.scan("", page_size=0)), "page_size of scan", "from 1", "not 0")
    refused(lambda: list(mem.scan("", page_size=-1)), "page_size of scan", "from 1")


def test_session_compare_exchange_messages_state_the_sessions_rules(
    mem: interlock.Client,
) -> None:
    session = mem.session()
    put = refused(lambda: session.put_compare_exchange("k", 1, None), "is required")  # type: ignore[arg-type]
    assert "set()" not in put and "store()" in put
    delete = refused(lambda: session.delete_compare_exchange("k", None), "is required")  # type: ignore[arg-type]
    assert "creates" not in delete and "delete()" in delete


def test_reprs_name_the_public_classes(mem: interlock.Client) -> None:
    lease = mem.lease(5)
    assert repr(lease) == f"interlock.Lease(id={lease.id}, ttl=5.0)"
    assert repr(mem.txn()).startswith("<interlock.Txn object")
    assert repr(mem.lock("a")) == "interlock.Lock('a', fencing_token=None)"
    assert repr(mem).startswith("interlock.Client('mem://")


def test_messages_name_the_call_as_it_was_made(mem: interlock.Client) -> None:
    with pytest.raises(interlock.LeaseExpiredError) as raised:
        mem.set("q", 1, lease=12345)
    assert str(raised.value) == "writing 'q': lease 12345 is unknown or has expired"
    refused(lambda: interlock.connect("mem:/"), "'mem:/' does not start with a scheme and '://'")


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


def test_a_keyword_option_of_none_is_not_given(tmp_path: Path) -> None:
    db = interlock.connect(f"sqlite://{tmp_path / 'n.db'}", sync=None)
    assert "sync" not in db.url
    db.close()


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
    for too_long in (9e9 + 1, 1e10, 1e300, 10**400):
        refused(lambda t=too_long: mem.lock("printer").acquire(timeout=t), "timeout", "9000000000")
        refused(lambda t=too_long: mem.lock("printer", timeout=t), "timeout", "at most")
        refused(lambda t=too_long: mem.lease(5).wait_lost(t), "timeout", "None waits")
        refused(lambda t=too_long: mem.lock("printer", ttl=t), "ttl", "at most 9000000000 s")
        refused(lambda t=too_long: mem.grant(t), "ttl", "at most 9000000000 s")
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
