"""The error hierarchy (docs/design.md, Errors) and bad input (docs/design.md, Limits): every bad
key, value, TTL or option is refused with InvalidArgumentError before anything is written; JSON
values round-trip."""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import pytest

import interlock
from interlock import Client, ConcurrencyError, Conflict, InterlockError, InvalidArgumentError
from interlock import errors as errors_module

MIB = 1024 * 1024

ALL_ERRORS = [
    interlock.InvalidArgumentError,
    interlock.ConcurrencyError,
    interlock.LockTimeoutError,
    interlock.LockLostError,
    interlock.LeaseExpiredError,
    interlock.UnavailableError,
    interlock.UnauthorizedError,
    interlock.InternalError,
]


# the hierarchy


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_every_error_derives_from_interlock_error(cls: type[Exception]) -> None:
    assert issubclass(cls, InterlockError)
    assert issubclass(cls, Exception)
    assert getattr(errors_module, cls.__name__) is cls
    assert cls.__name__ in interlock.__all__


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (interlock.InvalidArgumentError, ValueError),
        (interlock.LockTimeoutError, TimeoutError),
        (interlock.UnavailableError, ConnectionError),
    ],
    ids=lambda x: x.__name__,
)
def test_errors_are_also_the_matching_builtin(
    cls: type[Exception], builtin: type[Exception]
) -> None:
    assert issubclass(cls, builtin)
    with pytest.raises(builtin):
        raise cls("x")


@pytest.mark.parametrize(
    "cls",
    [c for c in ALL_ERRORS if c is not interlock.InvalidArgumentError],
    ids=lambda c: c.__name__,
)
def test_other_errors_are_not_value_errors(cls: type[Exception]) -> None:
    # `except ValueError` around user code must not swallow conflicts, timeouts, ...
    assert not issubclass(cls, ValueError)


def test_invalid_argument_from_the_store_is_a_value_error(db: Client) -> None:
    with pytest.raises(ValueError) as raised:
        db.set("@reserved", 1)
    assert isinstance(raised.value, InvalidArgumentError)
    assert isinstance(raised.value, InterlockError)
    assert raised.value.retryable is False


def test_lock_timeout_from_the_store_is_a_timeout_error(db: Client) -> None:
    holder = db.lock("printer")
    holder.acquire()
    try:
        with pytest.raises(TimeoutError) as raised:
            with db.lock("printer", timeout=0.2):
                pytest.fail("the body ran without the lock")
        assert isinstance(raised.value, interlock.LockTimeoutError)
        assert "printer" in str(raised.value)
    finally:
        holder.release()


def test_lease_expired_from_the_store(db: Client) -> None:
    with pytest.raises(InterlockError) as raised:
        db.keepalive(123456789)
    assert isinstance(raised.value, interlock.LeaseExpiredError)
    assert "123456789" in str(raised.value)


def test_concurrency_error_lists_conflicts_with_key_expected_actual(db: Client) -> None:
    ia = db.set("accounts/1", 1)
    ib = db.set("accounts/2", 2)
    with pytest.raises(ConcurrencyError) as raised:
        db.txn().check("accounts/1", ia).check("accounts/2", ia).check("accounts/3", ib).commit()
    error = raised.value
    assert isinstance(error, InterlockError)
    assert error.retryable is False
    assert len(error.conflicts) == 2
    for c in error.conflicts:
        assert isinstance(c, Conflict)
        assert isinstance(c.key, str)
        assert isinstance(c.expected, int) and isinstance(c.actual, int)
    assert {(c.key, c.expected, c.actual) for c in error.conflicts} == {
        ("accounts/2", ia, ib),
        ("accounts/3", ib, 0),
    }
    message = str(error)
    assert "accounts/2" in message and "accounts/3" in message
    assert str(ia) in message and str(ib) in message


KINDS = {
    interlock.InvalidArgumentError: "InvalidArgument",
    interlock.ConcurrencyError: "Conflict",
    interlock.LockTimeoutError: "LockTimeout",
    interlock.LockLostError: "LockLost",
    interlock.LeaseExpiredError: "LeaseExpired",
    interlock.UnavailableError: "Unavailable",
    interlock.UnauthorizedError: "Unauthorized",
    interlock.InternalError: "Internal",
}


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_every_error_class_has_its_kind(cls: type[InterlockError]) -> None:
    # An error made in Python reads the same as one the core raised.
    error = cls("x")
    assert error.kind == KINDS[cls]
    assert error.retryable is (cls is interlock.UnavailableError)


@pytest.mark.parametrize(
    ("call", "cls"),
    [
        (lambda db: db.set("@reserved", 1), interlock.InvalidArgumentError),
        (lambda db: db.set("k", {1}), interlock.InvalidArgumentError),
        (lambda db: db.put("k", 1, -1), interlock.InvalidArgumentError),
        (lambda db: db.keepalive(None), interlock.InvalidArgumentError),
        (lambda db: db.txn().check("k", 3).commit(), interlock.ConcurrencyError),
        (lambda db: db.keepalive(123456789), interlock.LeaseExpiredError),
    ],
    ids=["reserved-key", "bad-value", "negative-index", "no-lease", "conflict", "lease"],
)
def test_raised_errors_carry_the_kind_of_their_class(
    db: Client, call: Callable[[Client], object], cls: type[InterlockError]
) -> None:
    with pytest.raises(cls) as raised:
        call(db)
    assert raised.value.kind == KINDS[cls]
    assert raised.value.retryable is False


def test_conflict_is_the_exported_named_tuple() -> None:
    c = interlock.Conflict("k", 1, 2)
    assert (c.key, c.expected, c.actual) == ("k", 1, 2)
    assert c == ("k", 1, 2)
    assert interlock.errors.Conflict is interlock.Conflict


def test_an_error_made_by_hand_has_no_conflicts() -> None:
    assert ConcurrencyError("x").conflicts == []
    assert InvalidArgumentError("x").conflicts == []


# bad keys

BAD_KEYS = [
    pytest.param("", id="empty"),
    pytest.param("k" * 513, id="513-bytes"),
    pytest.param("é" * 256 + "k", id="513-bytes-utf8"),
    pytest.param("a\x00b", id="nul"),
    pytest.param("a\nb", id="newline"),
    pytest.param("\t", id="tab"),
    pytest.param("a\x1bb", id="escape"),
    pytest.param("a\x7fb", id="delete"),
    pytest.param("a\x85b", id="c1-control"),
    pytest.param("@reserved", id="reserved"),
    pytest.param("@lock/printer/x", id="reserved-lock"),
]


def write_ops(key: str, value: Any) -> dict[str, Callable[[Client], object]]:
    """Every way to write `value` at `key`; in the multi-op ones, other keys are written too."""

    def session_store(db: Client) -> object:
        s = db.session()
        s.store("good/1", "ok")
        s.store(key, value)
        return s.save_changes()

    def session_exchange(db: Client) -> object:
        s = db.session()
        s.store("good/1", "ok")
        s.put_compare_exchange(key, value, 0)
        return s.save_changes()

    return {
        "put": lambda db: db.put(key, value, 0),
        "set": lambda db: db.set(key, value),
        "txn": lambda db: db.txn().set("good/1", 1).set(key, value).set("good/2", 2).commit(),
        "txn-at": lambda db: db.txn().set("good/1", 1).put(key, value, index=0).commit(),
        "session-store": session_store,
        "session-exchange": session_exchange,
    }


WRITES = list(write_ops("k", 1))


def assert_nothing_written(db: Client, before: int) -> None:
    assert db.index() == before
    assert db.list().entries == []
    assert db.list("@").entries == []


@pytest.mark.parametrize("how", WRITES)
@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_key_is_refused_and_nothing_written(db: Client, key: str, how: str) -> None:
    before = db.index()
    with pytest.raises(InvalidArgumentError):
        write_ops(key, "value")[how](db)
    assert_nothing_written(db, before)


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_key_delete_is_refused(db: Client, key: str) -> None:
    before = db.index()
    with pytest.raises(InvalidArgumentError):
        db.delete(key)
    with pytest.raises(InvalidArgumentError):
        db.delete(key, 1)
    with pytest.raises(InvalidArgumentError):
        db.txn().set("good/1", 1).delete(key).commit()
    s = db.session()
    with pytest.raises(InvalidArgumentError):
        s.delete(key)
        s.save_changes()
    assert_nothing_written(db, before)


@pytest.mark.parametrize("key", [k for k in BAD_KEYS if not str(k.values[0]).startswith("@")])
def test_malformed_key_is_refused_for_reads(db: Client, key: str) -> None:
    with pytest.raises(InvalidArgumentError):
        db.get(key)
    with pytest.raises(InvalidArgumentError):
        db.get_many(["fine", key])
    if key:  # the empty prefix means "everything"
        with pytest.raises(InvalidArgumentError):
            db.list(key)
        with pytest.raises(InvalidArgumentError):
            db.watch(key)


def test_reserved_key_error_names_the_key(db: Client) -> None:
    with pytest.raises(InvalidArgumentError, match="@jobs/1"):
        db.set("@jobs/1", 1)


def test_too_long_key_error_says_so(db: Client) -> None:
    with pytest.raises(InvalidArgumentError, match="512"):
        db.set("k" * 513, 1)


@pytest.mark.parametrize(
    "key",
    ["k" * 512, "é" * 256, "x@y", "ключ/🙂/值", "with space", "MiXeD/Case", "a/b//c/"],
    ids=["512-bytes", "512-bytes-utf8", "at-inside", "unicode", "space", "case", "slashes"],
)
def test_valid_keys_are_accepted(db: Client, key: str) -> None:
    index = db.set(key, key)
    entry = db.get(key)
    assert entry is not None and (entry.key, entry.value, entry.index) == (key, key, index)
    assert [e.key for e in db.list(key)] == [key]


# bad values


def self_referencing_list() -> list[Any]:
    x: list[Any] = []
    x.append(x)
    return x


def self_referencing_dict() -> dict[str, Any]:
    x: dict[str, Any] = {}
    x["self"] = x
    return x


class Point:
    def __init__(self) -> None:
        self.x = 1


BAD_VALUES: list[Any] = [
    pytest.param(lambda: {1, 2}, id="set"),
    pytest.param(lambda: frozenset(), id="frozenset"),
    pytest.param(lambda: object(), id="object"),
    pytest.param(lambda: Point(), id="instance"),
    pytest.param(lambda: b"bytes", id="bytes"),
    pytest.param(lambda: bytearray(b"x"), id="bytearray"),
    pytest.param(lambda: 1j, id="complex"),
    pytest.param(lambda: float("nan"), id="nan"),
    pytest.param(lambda: float("inf"), id="inf"),
    pytest.param(lambda: float("-inf"), id="-inf"),
    pytest.param(lambda: 2**70, id="2**70"),
    pytest.param(lambda: -(2**70), id="-2**70"),
    pytest.param(lambda: 2**64, id="2**64"),
    pytest.param(lambda: -(2**63) - 1, id="-2**63-1"),
    pytest.param(lambda: {1: "a"}, id="int-dict-key"),
    pytest.param(lambda: {("a",): 1}, id="tuple-dict-key"),
    pytest.param(lambda: {None: 1}, id="none-dict-key"),
    pytest.param(self_referencing_list, id="self-referencing-list"),
    pytest.param(self_referencing_dict, id="self-referencing-dict"),
    pytest.param(lambda: {"a": [1, {"b": float("nan")}]}, id="nested-nan"),
    pytest.param(lambda: [1, 2, {3}], id="nested-set"),
    pytest.param(lambda: "x" * MIB, id="over-1-MiB"),
    pytest.param(lambda: {"blob": "y" * MIB}, id="over-1-MiB-nested"),
    pytest.param(lambda: ["z" * 1000] * 1100, id="over-1-MiB-list"),
]


@pytest.mark.parametrize("how", WRITES)
@pytest.mark.parametrize("make", BAD_VALUES)
def test_bad_value_is_refused_and_nothing_written(
    db: Client, make: Callable[[], Any], how: str
) -> None:
    before = db.index()
    with pytest.raises((InvalidArgumentError, TypeError)) as raised:
        write_ops("docs/1", make())[how](db)
    assert "docs/1" in str(raised.value)
    assert db.get("docs/1") is None
    assert_nothing_written(db, before)


@pytest.mark.parametrize("make", BAD_VALUES)
def test_bad_value_does_not_replace_an_existing_value(db: Client, make: Callable[[], Any]) -> None:
    index = db.set("docs/1", {"ok": True})
    with pytest.raises((InvalidArgumentError, TypeError)):
        db.put("docs/1", make(), index)
    entry = db.get("docs/1")
    assert entry is not None and (entry.value, entry.index) == ({"ok": True}, index)
    assert db.index() == index


def test_session_with_a_bad_value_in_a_loaded_document_writes_nothing(db: Client) -> None:
    db.set("a", {"n": 1})
    db.set("b", {"n": 1})
    before = db.index()
    s = db.session()
    a = s.load("a")
    b = s.load("b")
    a["n"] = 2
    b["n"] = {1, 2}
    with pytest.raises((InvalidArgumentError, TypeError)) as raised:
        s.save_changes()
    assert "'b'" in str(raised.value)
    assert db.index() == before
    entry = db.get("a")
    assert entry is not None and entry.value == {"n": 1}


def test_value_of_exactly_1_mib_is_accepted(db: Client) -> None:
    value = "x" * (MIB - 2)  # the quotes make it 1 MiB serialized
    index = db.set("big", value)
    entry = db.get("big")
    assert entry is not None and entry.index == index and entry.value == value


def test_value_size_error_names_the_key_and_the_limit(db: Client) -> None:
    with pytest.raises(InvalidArgumentError) as raised:
        db.set("files/huge", "x" * MIB)
    assert "files/huge" in str(raised.value)
    assert str(MIB) in str(raised.value)


# bad options


@pytest.mark.parametrize(
    "url",
    ["foo://bar", "redis://localhost:6379", "nonsense", "ftp:///x.db"],
)
def test_unknown_url_scheme_is_invalid(url: str) -> None:
    with pytest.raises(InvalidArgumentError):
        interlock.connect(url)


@pytest.mark.parametrize("ttl", [-1, -0.5, 0, 0.5, 0.999, float("nan"), float("-inf")])
def test_bad_ttl_is_invalid(db: Client, ttl: float) -> None:
    start = db.index()
    with pytest.raises(InvalidArgumentError):
        db.grant(ttl)
    with pytest.raises(InvalidArgumentError):
        db.lease(ttl)
    with pytest.raises(InvalidArgumentError):
        db.lock("printer", ttl=ttl).acquire(timeout=1)
    assert db.lock_queue("printer") == []
    assert db.index() == start


def test_ttl_of_one_second_is_accepted(db: Client) -> None:
    lease = db.grant(1)
    ttl = db.time_to_live(lease)
    assert ttl is not None and 0 < ttl <= 1
    db.revoke(lease)


def test_list_limit_zero_is_invalid(db: Client) -> None:
    db.set("a", 1)
    with pytest.raises(InvalidArgumentError):
        db.list("", limit=0)
    with pytest.raises(InvalidArgumentError):
        next(iter(db.scan("", page_size=0)))


@pytest.mark.parametrize(
    "call",
    [
        lambda db: db.put("k", 1, -1),
        lambda db: db.delete("k", -1),
        lambda db: db.txn().check("k", -1).commit(),
        lambda db: db.txn().put("k", 1, index=-1).commit(),
        lambda db: db.txn().delete("k", index=-1).commit(),
        lambda db: db.list("", limit=-1),
        lambda db: db.watch("", from_index=-1),
        lambda db: db.session().put_compare_exchange("k", 1, -1),
        lambda db: db.session().delete_compare_exchange("k", -1),
        lambda db: db.lock("printer").acquire(timeout=-1),
    ],
    ids=[
        "put",
        "delete",
        "txn-check",
        "txn-put",
        "txn-delete",
        "list-limit",
        "watch-from",
        "session-put-exchange",
        "session-delete-exchange",
        "lock-timeout",
    ],
)
def test_negative_numbers_are_invalid_arguments(
    db: Client, call: Callable[[Client], object]
) -> None:
    start = db.index()
    with pytest.raises(InvalidArgumentError):
        call(db)
    assert db.index() == start
    assert db.get("k") is None


# JSON round trip

ROUND_TRIP: list[Any] = [
    pytest.param(None, id="none"),
    pytest.param(True, id="true"),
    pytest.param(False, id="false"),
    pytest.param(0, id="zero"),
    pytest.param(-17, id="negative"),
    pytest.param(2**63 - 1, id="i64-max"),
    pytest.param(-(2**63), id="i64-min"),
    pytest.param(2**64 - 1, id="u64-max"),
    pytest.param(1.5, id="float"),
    pytest.param(-0.1, id="negative-float"),
    pytest.param(1e300, id="huge-float"),
    pytest.param(5e-324, id="tiny-float"),
    pytest.param(1.0, id="integral-float"),
    pytest.param("", id="empty-string"),
    pytest.param("plain", id="string"),
    pytest.param('ünïcödé ✓ 🙂 中文 \u0000 \n "quoted" \\', id="unicode-string"),
    pytest.param([], id="empty-list"),
    pytest.param({}, id="empty-dict"),
    pytest.param([1, "two", 3.0, None, True, [False]], id="list"),
    pytest.param({"a": 1, "b": [1, 2, {"c": None}], "ключ": "значение", "": 0}, id="dict"),
    pytest.param({"l1": {"l2": {"l3": {"l4": [[[["deep"]]]]}}}}, id="nested"),
    pytest.param([[1] * 3] * 3, id="shared-sublists"),
]


@pytest.mark.parametrize("value", ROUND_TRIP)
def test_json_values_round_trip(db: Client, value: Any) -> None:
    r = db.put("v", value, 0)
    assert r.successful
    assert r.value == value
    entry = db.get("v")
    assert entry is not None
    assert entry.value == value
    assert type(entry.value) is type(value)
    [many] = db.get_many(["v"])
    assert many.value == value
    with db.watch("v", from_index=r.index) as watch:
        event = watch.next(5)
        assert event is not None and event.value == value
    s = db.session()
    assert s.load("v") == value


def test_tuples_are_stored_as_lists(db: Client) -> None:
    db.set("t", (1, (2, 3)))
    entry = db.get("t")
    assert entry is not None and entry.value == [1, [2, 3]]


def test_bool_stays_bool_and_int_stays_int(db: Client) -> None:
    db.set("x", {"flag": True, "n": 1, "f": 1.0})
    entry = db.get("x")
    assert entry is not None
    assert entry.value["flag"] is True
    assert type(entry.value["n"]) is int
    assert type(entry.value["f"]) is float


def test_unicode_keys_and_values_round_trip_through_list_and_watch(db: Client) -> None:
    keys = ["日本/東京", "日本/大阪", "émoji/🙂", "ελληνικά/ψ"]
    watch = db.watch("")
    for key in keys:
        db.set(key, {"name": key[::-1]})
    events = [watch.next(5) for _ in keys]
    assert [e.key for e in events if e is not None] == keys
    listed = db.list("日本/")
    assert sorted(e.key for e in listed) == ["日本/大阪", "日本/東京"]
    assert [e.key for e in listed] == sorted(["日本/東京", "日本/大阪"])
    for key in keys:
        entry = db.get(key)
        assert entry is not None and entry.value == {"name": key[::-1]}
    watch.close()


# Durations and flags from Python: every one is checked where it is given, and nothing reaches
# the native layer that could make it panic (a PanicException is a BaseException, which
# pytest.raises(InvalidArgumentError) would not catch).

BAD_SECONDS = [
    float("nan"),
    float("inf"),
    float("-inf"),
    -1,
    -0.5,
    1e19,
    1e300,
    10**400,
    True,
    False,
    "5",
]
BAD_SECONDS_IDS = [
    "nan",
    "inf",
    "-inf",
    "-1",
    "-0.5",
    "1e19",
    "1e300",
    "10**400",
    "True",
    "False",
    "str",
]


@pytest.mark.parametrize("seconds", BAD_SECONDS, ids=BAD_SECONDS_IDS)
def test_bad_timeouts_are_invalid_and_name_the_parameter(db: Client, seconds: Any) -> None:
    holder = db.lock("printer", ttl=5)
    assert holder.acquire()
    lease = db.lease(5)
    watch = db.watch("w/")
    calls: list[Callable[[], object]] = [
        lambda: db.lock("printer", timeout=seconds),  # refused when the lock is made
        lambda: interlock.Client.lock(db, "printer", timeout=seconds),
        lambda: db.lock("printer").acquire(timeout=seconds),
        lambda: db.lock("printer").acquire(True, seconds),
        lambda: lease.wait_lost(seconds),
        lambda: watch.next(seconds),
    ]
    for call in calls:
        with pytest.raises(InvalidArgumentError, match="timeout"):
            call()
    # Nothing was queued, and the holder is untouched.
    assert [w.holder for w in db.lock_queue("printer")] == [True]
    holder.release()
    lease.revoke()
    watch.close()


@pytest.mark.parametrize(
    "seconds", [*BAD_SECONDS, 0, 0.5, 1e10], ids=[*BAD_SECONDS_IDS, "0", "0.5", "1e10"]
)
def test_bad_ttls_are_invalid_when_given(db: Client, seconds: Any) -> None:
    start = db.index()
    calls: list[Callable[[], object]] = [
        lambda: db.lock("printer", ttl=seconds),  # refused when the lock is made
        lambda: db.grant(seconds),
        lambda: db.lease(seconds),
    ]
    for call in calls:
        with pytest.raises(InvalidArgumentError, match=r"(?i)ttl"):
            call()
    assert db.lock_queue("printer") == []
    assert db.index() == start


def test_a_huge_acquire_timeout_is_invalid_not_a_panic(db: Client) -> None:
    holder = db.lock("printer", ttl=5)
    assert holder.acquire()
    with pytest.raises(InvalidArgumentError, match="timeout"):
        db.lock("printer").acquire(timeout=1e19)
    with pytest.raises(InvalidArgumentError, match="timeout"):
        db.lock("printer", timeout=1e19).acquire()
    assert [w.holder for w in db.lock_queue("printer")] == [True]
    holder.release()


@pytest.mark.parametrize(
    "call",
    [
        lambda db: db.put("k", 1, index=True),
        lambda db: db.put("k", 1, index=False),
        lambda db: db.delete("k", index=True),
        lambda db: db.txn().check("k", True),
        lambda db: db.txn().put("k", 1, index=True),
        lambda db: db.list("", limit=True),
        lambda db: db.watch("", from_index=True),
        lambda db: db.session().put_compare_exchange("k", 1, True),
        lambda db: db.retry(lambda: None, attempts=True),
    ],
    ids=["put", "put-False", "delete", "txn-check", "txn-put", "list", "watch", "session", "retry"],
)
def test_bools_are_not_numbers(db: Client, call: Callable[[Client], object]) -> None:
    start = db.index()
    with pytest.raises(InvalidArgumentError):
        call(db)
    assert db.get("k") is None
    assert db.index() == start


BAD_LEASE_IDS = [0, -1, 2**63, 2**64 - 1, 2**64, -(2**63) - 1]


@pytest.mark.parametrize("lease", BAD_LEASE_IDS)
def test_a_lease_id_out_of_range_is_refused_naming_it(db: Client, lease: int) -> None:
    """Every call that takes a lease id refuses one no store can have with InvalidArgumentError
    naming it (not an OverflowError from the native layer, nor LeaseExpiredError)."""
    start = db.index()
    message = rf"lease id {lease} is out of range"
    for call in (
        lambda: db.keepalive(lease),
        lambda: db.revoke(lease),
        lambda: db.time_to_live(lease),
        lambda: db.put("k", 1, 0, lease=lease),
        lambda: db.set("k", 1, lease=lease),
        lambda: db.txn().set("k", 1, lease=lease),
    ):
        with pytest.raises(InvalidArgumentError, match=message):
            call()
    assert db.index() == start


@pytest.mark.parametrize("lease", BAD_LEASE_IDS)
def test_async_lease_id_out_of_range_is_refused_naming_it(url: str, lease: int) -> None:
    import asyncio

    import interlock.aio

    async def main() -> None:
        db = await interlock.aio.connect(url)
        try:
            start = await db.index()
            message = rf"lease id {lease} is out of range"
            for call in (
                lambda: db.keepalive(lease),
                lambda: db.revoke(lease),
                lambda: db.time_to_live(lease),
                lambda: db.put("k", 1, 0, lease=lease),
                lambda: db.set("k", 1, lease=lease),
            ):
                with pytest.raises(InvalidArgumentError, match=message):
                    await call()
            with pytest.raises(InvalidArgumentError, match=message):
                db.txn().set("k", 1, lease=lease)
            assert await db.index() == start
        finally:
            await db.close()

    asyncio.run(main())


def test_the_largest_lease_id_reaches_the_store(db: Client) -> None:
    """2**63 - 1 is a valid id: the store answers that no such lease exists."""
    largest = 2**63 - 1
    with pytest.raises(interlock.LeaseExpiredError):
        db.keepalive(largest)
    assert db.time_to_live(largest) is None
    assert db.revoke(largest) is False


def test_a_lock_refuses_a_bad_name_owner_or_on_lost_when_made(db: Client) -> None:
    """A lock name that is not a str, an owner that is not a str, or an on_lost that cannot be
    called is refused by db.lock (not at the first acquire, nor on the callback's thread when
    the lock is lost), with InvalidArgumentError naming it."""
    import interlock.aio

    async def async_lock(**options: Any) -> None:
        adb = await interlock.aio.connect(db.url)
        try:
            adb.lock(**options)
        finally:
            await adb.close()

    def both(**options: Any) -> list[Callable[[], object]]:
        return [lambda: db.lock(**options), lambda: asyncio.run(async_lock(**options))]

    cases = [
        ({"name": 123}, r"lock name must be a str, not int 123"),
        ({"name": None}, r"lock name must be a str, not NoneType"),
        ({"name": b"a"}, r"lock name must be a str, not bytes"),
        ({"name": "a", "owner": 5}, r"owner of lock 'a' must be a str or None, not int 5"),
        ({"name": "a", "on_lost": 5}, r"on_lost of lock 'a' must be callable, not int 5"),
    ]
    for options, message in cases:
        for call in both(**options):
            with pytest.raises(InvalidArgumentError, match=message):
                call()
    lock = db.lock("a")
    with pytest.raises(
        InvalidArgumentError, match=r"on_lost callback of lock 'a' must be callable"
    ):
        lock.on_lost("not callable")  # type: ignore[arg-type]
    lease = db.lease(5)
    with pytest.raises(InvalidArgumentError, match=r"on_lost callback of a lease must be callable"):
        lease.on_lost(None)  # type: ignore[arg-type]
    lease.revoke()
    assert db.lock_queue("a") == []


def test_a_lock_refuses_a_bad_lease_when_made(db: Client) -> None:
    with pytest.raises(InvalidArgumentError, match="lease"):
        db.lock("printer", lease="not a lease")


def test_async_durations_are_checked_when_given(url: str) -> None:
    import asyncio

    import interlock.aio

    async def main() -> None:
        db = await interlock.aio.connect(url)
        try:
            for bad in (float("nan"), -1, True, 1e300):
                with pytest.raises(InvalidArgumentError, match=r"(?i)ttl"):
                    db.lock("printer", ttl=bad)
                with pytest.raises(InvalidArgumentError, match="timeout"):
                    db.lock("printer", timeout=bad)
                with pytest.raises(InvalidArgumentError, match="timeout"):
                    await db.lock("printer").acquire(timeout=bad)
                with pytest.raises(InvalidArgumentError, match=r"(?i)ttl"):
                    await db.lease(bad)
            with pytest.raises(InvalidArgumentError, match="timeout"):
                await db.lock("printer").acquire(timeout=1e19)
            with pytest.raises(InvalidArgumentError):
                await db.put("k", 1, index=True)
            assert await db.lock_queue("printer") == []
        finally:
            await db.close()

    asyncio.run(main())
