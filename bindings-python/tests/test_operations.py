"""Every operation (docs/design.md, Operations and Leases: get, get_many, list, scan, put, set,
delete, txn, leases, watch), sessions (docs/design.md, Sessions) and retry
(docs/design.md, Transactions), through the sync client, on every backend."""

from __future__ import annotations

import threading
from typing import Any, Callable

import pytest
from waiting import DEADLINE, wait_until

import interlock
from interlock import Client, ConcurrencyError, Conflict, InvalidArgumentError, LeaseExpiredError


def fill(db: Client, items: dict[str, Any]) -> int:
    """Writes `items` in transactions of at most 100 ops; returns the last index."""
    keys = sorted(items)
    index = 0
    for start in range(0, len(keys), 100):
        txn = db.txn()
        for key in keys[start : start + 100]:
            txn.set(key, items[key])
        index = txn.commit()
    return index


# get


def test_get_of_an_absent_key_is_none(db: Client) -> None:
    assert db.get("nobody/here") is None


def test_get_returns_key_value_and_index(db: Client) -> None:
    index = db.set("users/1", {"name": "Ada", "roles": ["admin"], "age": 36})
    entry = db.get("users/1")
    assert entry is not None
    assert entry.key == "users/1"
    assert entry.value == {"name": "Ada", "roles": ["admin"], "age": 36}
    assert entry.index == index
    assert entry.lease is None


def test_get_returns_a_copy_that_does_not_change_the_store(db: Client) -> None:
    db.set("doc", {"items": [1, 2]})
    entry = db.get("doc")
    assert entry is not None
    entry.value["items"].append(3)
    again = db.get("doc")
    assert again is not None and again.value == {"items": [1, 2]}


def test_get_is_case_sensitive(db: Client) -> None:
    db.set("Key", "upper")
    assert db.get("key") is None
    entry = db.get("Key")
    assert entry is not None and entry.value == "upper"


# get_many


def test_get_many_returns_only_existing_entries_in_the_order_asked(db: Client) -> None:
    ia = db.set("a", 1)
    ib = db.set("b", 2)
    entries = db.get_many(["b", "missing", "a", "also-missing"])
    assert [(e.key, e.value, e.index) for e in entries] == [("b", 2, ib), ("a", 1, ia)]
    assert db.get_many([]) == []
    assert db.get_many(["x", "y"]) == []
    assert db.get_many(iter(["a"]))[0].value == 1


def test_get_many_reads_one_snapshot(db: Client) -> None:
    # A writer moves two keys together in transactions; every read must see them equal.
    fill(db, {"pair/a": 0, "pair/b": 0})
    rounds = 150
    done = threading.Event()
    failure: list[BaseException] = []

    def writer() -> None:
        try:
            for n in range(1, rounds + 1):
                db.txn().set("pair/a", n).set("pair/b", n).commit()
        except BaseException as e:  # reported by the test
            failure.append(e)
        finally:
            done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    reads = 0
    try:
        while not done.is_set() or reads < 10:
            a, b = db.get_many(["pair/a", "pair/b"])
            assert a.value == b.value, f"torn read: {a!r} vs {b!r}"
            assert a.index == b.index
            reads += 1
    finally:
        thread.join()
    assert not failure, failure
    a, b = db.get_many(["pair/a", "pair/b"])
    assert a.value == b.value == rounds


# list and scan


def test_list_returns_entries_under_a_prefix_in_key_order(db: Client) -> None:
    for key in ["fruit/cherry", "veg/kale", "fruit/apple", "fruitcake", "fruit/banana", "Fruit/x"]:
        db.set(key, key.upper())
    page = db.list("fruit/")
    assert [e.key for e in page.entries] == ["fruit/apple", "fruit/banana", "fruit/cherry"]
    assert [e.value for e in page] == ["FRUIT/APPLE", "FRUIT/BANANA", "FRUIT/CHERRY"]
    assert len(page) == 3
    assert page.more is False
    assert page.index == db.index()
    for e in page:
        got = db.get(e.key)
        assert got is not None and got.index == e.index
    everything = db.list()
    assert [e.key for e in everything] == sorted(
        ["fruit/cherry", "veg/kale", "fruit/apple", "fruitcake", "fruit/banana", "Fruit/x"]
    )
    assert db.list("nothing/").entries == []


def test_list_after_starts_past_the_given_key(db: Client) -> None:
    fill(db, {f"k/{c}": c for c in "abcde"})
    assert [e.key for e in db.list("k/", after="k/b")] == ["k/c", "k/d", "k/e"]
    # `after` need not be an existing key
    assert [e.key for e in db.list("k/", after="k/bb")] == ["k/c", "k/d", "k/e"]
    page = db.list("k/", after="k/e")
    assert page.entries == [] and page.more is False


def test_list_pages_with_limit_and_more(db: Client) -> None:
    keys = [f"p/{i:02d}" for i in range(25)]
    fill(db, {k: i for i, k in enumerate(keys)})
    seen: list[str] = []
    pages = []
    after = None
    while True:
        page = db.list("p/", after=after, limit=10)
        pages.append(page)
        seen.extend(e.key for e in page)
        if not page.more:
            break
        after = page.entries[-1].key
        assert len(pages) < 10, "paging does not end"
    assert seen == keys
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [p.more for p in pages] == [True, True, False]


def test_list_more_is_false_when_the_page_ends_exactly_at_the_last_entry(db: Client) -> None:
    fill(db, {f"e/{i}": i for i in range(4)})
    first = db.list("e/", limit=2)
    assert first.more is True
    second = db.list("e/", after=first.entries[-1].key, limit=2)
    assert [e.key for e in second] == ["e/2", "e/3"]
    assert second.more is False
    assert db.list("e/", limit=4).more is False


def test_list_page_index_is_the_store_index_of_its_snapshot(db: Client) -> None:
    db.set("x/1", 1)
    db.set("other", 2)
    page = db.list("x/")
    assert page.index == db.index()
    assert all(e.index <= page.index for e in page)


def test_reserved_keys_are_not_listed_under_user_prefixes(db: Client) -> None:
    db.set("a", 1)
    lock = db.lock("a")
    lock.acquire()
    try:
        assert [e.key for e in db.list()] == ["a"]
        assert [e.key for e in db.list("", limit=1)] == ["a"]
        assert [e.key for e in db.scan()] == ["a"]
        # The lock's own records exist, under the reserved prefix.
        assert len(db.list("@").entries) == 1
    finally:
        lock.release()


def test_scan_yields_every_entry_under_a_prefix_across_pages(db: Client) -> None:
    items: dict[str, Any] = {f"s/{i:03d}": {"n": i} for i in range(230)}
    items.update({"t/1": 1, "r/1": 1})
    fill(db, items)
    scanned = list(db.scan("s/", page_size=7))
    assert [e.key for e in scanned] == sorted(k for k in items if k.startswith("s/"))
    assert [e.value["n"] for e in scanned] == list(range(230))
    assert len(list(db.scan())) == 232
    assert list(db.scan("none/")) == []


# put (compare-exchange)


def test_put_index_zero_creates_only_if_absent(db: Client) -> None:
    created = db.put("emails/a@b.c", "users/1", 0)
    assert created.successful is True
    assert bool(created) is True
    assert created.index == db.index()
    assert created.value == "users/1"
    before = db.index()
    again = db.put("emails/a@b.c", "users/2", 0)
    assert again.successful is False
    assert not again
    assert again.index == created.index
    assert again.value == "users/1"
    entry = db.get("emails/a@b.c")
    assert entry is not None and entry.value == "users/1" and entry.index == created.index
    assert db.index() == before, "a failed compare must not write"


def test_put_index_n_replaces_only_at_n(db: Client) -> None:
    first = db.put("counter", 1, 0)
    second = db.put("counter", 2, first.index)
    assert second.successful
    assert second.index > first.index
    assert second.value == 2
    stale = db.put("counter", 3, first.index)
    assert not stale
    assert stale.index == second.index
    assert stale.value == 2
    entry = db.get("counter")
    assert entry is not None and (entry.value, entry.index) == (2, second.index)


def test_put_at_an_index_on_an_absent_key_fails_with_index_zero_and_no_value(db: Client) -> None:
    start = db.index()
    r = db.put("ghost", "boo", 5)
    assert r.successful is False
    assert not r
    assert r.index == 0
    assert r.value is None
    assert db.get("ghost") is None
    assert db.index() == start


def test_racing_creators_have_exactly_one_winner(db: Client) -> None:
    results: list[interlock.PutResult] = []
    barrier = threading.Barrier(8)
    guard = threading.Lock()

    def create(i: int) -> None:
        barrier.wait()
        r = db.put("jobs/42/started", f"worker-{i}", 0)
        with guard:
            results.append(r)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r.successful]
    assert len(winners) == 1
    winner = winners[0]
    for r in results:
        assert (r.index, r.value) == (winner.index, winner.value)
    entry = db.get("jobs/42/started")
    assert entry is not None and entry.value == winner.value


# set


def test_set_writes_unconditionally_and_returns_the_new_index(db: Client) -> None:
    i1 = db.set("k", "one")
    assert isinstance(i1, int) and i1 > 0
    i2 = db.set("k", "two")
    assert i2 > i1
    assert db.index() == i2
    entry = db.get("k")
    assert entry is not None and (entry.value, entry.index) == ("two", i2)


# delete


def test_delete_without_index_removes_the_entry(db: Client) -> None:
    i1 = db.set("k", 1)
    r = db.delete("k")
    assert r.successful
    assert r.index > i1
    assert r.index == db.index()
    assert db.get("k") is None


def test_delete_without_index_of_an_absent_key_reports_nothing_deleted(db: Client) -> None:
    r = db.delete("never")
    assert not r
    assert r.index == 0
    assert r.value is None


def test_delete_with_index_only_at_that_index(db: Client) -> None:
    i1 = db.set("k", "v1")
    i2 = db.set("k", "v2")
    stale = db.delete("k", i1)
    assert not stale
    assert (stale.index, stale.value) == (i2, "v2")
    entry = db.get("k")
    assert entry is not None and entry.index == i2
    r = db.delete("k", i2)
    assert r.successful
    assert r.index > i2
    assert db.get("k") is None


def test_delete_with_index_of_an_absent_key_fails_with_index_zero(db: Client) -> None:
    before = db.index()
    r = db.delete("absent", 3)
    assert r.successful is False
    assert r.index == 0
    assert r.value is None
    assert db.index() == before


# the index


def test_index_is_one_store_wide_strictly_increasing_counter(db: Client, url: str) -> None:
    start = db.index()
    if not url.startswith("etcd"):
        assert start == 0, "a fresh store starts at index 0"
    # On etcd the store-wide index is the cluster's revision, shared by every key prefix.
    indexes = [
        start,
        db.set("a", 1),
        db.put("b", 1, 0).index,
        db.set("a", 2),
        db.delete("b").index,
        db.txn().set("c", 1).set("d", 1).commit(),
        db.put("a", 3, db.get("a").index).index,  # type: ignore[union-attr]
    ]
    assert all(later > earlier for earlier, later in zip(indexes, indexes[1:])), indexes
    assert db.index() == indexes[-1]
    # Another client of the same store sees the same counter.
    other = interlock.connect(url)
    try:
        assert other.index() == indexes[-1]
        following = other.set("e", 1)
        assert following > indexes[-1]
        assert db.index() == following
    finally:
        other.close()


def test_index_does_not_move_on_failed_writes(db: Client) -> None:
    i = db.set("k", 1)
    db.put("k", 2, 0)
    db.put("k", 2, i + 100)
    db.delete("k", i + 100)
    with pytest.raises(ConcurrencyError):
        db.txn().check("k", 0).set("j", 1).commit()
    assert db.index() == i


# transactions


def test_txn_commits_every_op_at_one_new_index(db: Client) -> None:
    db.set("old", "x")
    index = db.txn().set("a", 1).set("b", [2]).delete("old").commit()
    assert index == db.index()
    a, b = db.get("a"), db.get("b")
    assert a is not None and b is not None
    assert (a.value, a.index) == (1, index)
    assert (b.value, b.index) == ([2], index)
    assert db.get("old") is None


def test_txn_with_failed_checks_writes_nothing_and_lists_every_failure(db: Client) -> None:
    ia = db.set("acct/a", 10)
    ib = db.set("acct/b", 20)
    ic = db.set("acct/c", 30)
    before = db.index()
    txn = (
        db.txn()
        .check("acct/a", ia)  # passes
        .check("acct/b", ib - 1)  # fails: b moved on
        .check("acct/c", 0)  # fails: c exists
        .check("acct/d", ia)  # fails: d is absent
        .set("acct/a", 0)
        .set("acct/new", 1)
        .delete("acct/c")
    )
    with pytest.raises(ConcurrencyError) as raised:
        txn.commit()
    conflicts = sorted(raised.value.conflicts)
    assert conflicts == [
        Conflict("acct/b", ib - 1, ib),
        Conflict("acct/c", 0, ic),
        Conflict("acct/d", ia, 0),
    ]
    for c in raised.value.conflicts:
        assert (c.key, c.expected, c.actual) == tuple(c)
    message = str(raised.value)
    for key in ("acct/b", "acct/c", "acct/d"):
        assert key in message
    assert "acct/a'" not in message
    assert db.index() == before
    a = db.get("acct/a")
    assert a is not None and a.value == 10
    assert db.get("acct/new") is None
    assert db.get("acct/c") is not None


def test_txn_put_with_index_is_checked(db: Client) -> None:
    ia = db.set("a", 1)
    index = db.txn().put("a", 2, index=ia).put("fresh", 1, index=0).commit()
    a = db.get("a")
    assert a is not None and (a.value, a.index) == (2, index)
    with pytest.raises(ConcurrencyError) as raised:
        db.txn().put("a", 3, index=ia).put("fresh", 2, index=0).set("other", 1).commit()
    assert sorted(raised.value.conflicts) == [Conflict("a", ia, index), Conflict("fresh", 0, index)]
    a = db.get("a")
    assert a is not None and a.value == 2
    assert db.get("other") is None
    assert db.index() == index


def test_txn_delete_with_index_is_checked(db: Client) -> None:
    ia = db.set("a", 1)
    ib = db.set("b", 1)
    with pytest.raises(ConcurrencyError) as raised:
        db.txn().delete("a", index=ia).delete("b", index=ia).delete("gone", index=7).commit()
    assert sorted(raised.value.conflicts) == [Conflict("b", ia, ib), Conflict("gone", 7, 0)]
    assert db.get("a") is not None and db.get("b") is not None
    db.txn().delete("a", index=ia).delete("b", index=ib).commit()
    assert db.get("a") is None and db.get("b") is None


@pytest.mark.parametrize(
    "build",
    [
        lambda t: t.set("k", 1).set("k", 2),
        lambda t: t.set("k", 1).delete("k"),
        lambda t: t.delete("k").delete("k"),
        lambda t: t.set("other", 1).put("k", 1, index=0).put("k", 2, index=0),
    ],
    ids=["put-put", "put-delete", "delete-delete", "put-at-put-at"],
)
def test_txn_touching_a_key_twice_is_invalid(
    db: Client, build: Callable[[interlock.Txn], interlock.Txn]
) -> None:
    db.set("k", 0)
    before = db.index()
    with pytest.raises(InvalidArgumentError, match="'k'"):
        build(db.txn()).commit()
    assert db.index() == before
    assert db.get("other") is None


def test_txn_of_128_ops_commits(db: Client) -> None:
    txn = db.txn()
    for i in range(128):
        txn.set(f"bulk/{i:03d}", i)
    assert len(txn) == 128
    index = txn.commit()
    entries = list(db.scan("bulk/"))
    assert len(entries) == 128
    assert {e.index for e in entries} == {index}


def test_txn_of_128_checks_and_ops_commits(db: Client) -> None:
    ids = [db.set(f"c/{i:02d}", i) for i in range(64)]
    txn = db.txn()
    for i, index in enumerate(ids):
        txn.check(f"c/{i:02d}", index)
    for i in range(64):
        txn.set(f"w/{i:02d}", i)
    txn.commit()
    assert len(list(db.scan("w/"))) == 64


@pytest.mark.parametrize("checks", [0, 1, 64])
def test_txn_over_128_checks_and_ops_is_invalid_and_writes_nothing(db: Client, checks: int) -> None:
    """The step that would be the 129th is refused at its call, and left out."""
    ids = [db.set(f"c/{i:02d}", i) for i in range(checks)]
    before = db.index()
    txn = db.txn()
    for i, index in enumerate(ids):
        txn.check(f"c/{i:02d}", index)
    for i in range(128 - checks):
        txn.set(f"bulk/{i:03d}", i)
    assert len(txn) == 128
    with pytest.raises(
        InvalidArgumentError, match="would have 129 checks and ops; the limit is 128"
    ):
        txn.set("bulk/over", 1)
    assert len(txn) == 128
    assert db.index() == before
    assert db.list("bulk/").entries == []


# leases


def test_lease_entries_vanish_on_revoke_with_a_watch_event(db: Client) -> None:
    lease = db.lease(10)
    assert isinstance(lease.id, int)
    assert lease.ttl >= 10
    assert lease.lost is False
    watch = db.watch("session/")
    put_index = db.set("session/1", {"user": "ada"}, lease=lease)
    db.put("session/2", "x", 0, lease=lease)
    db.set("session/3", "kept")
    entry = db.get("session/1")
    assert entry is not None and entry.lease == lease.id
    ttl = db.time_to_live(lease)
    assert ttl is not None and 0 < ttl <= lease.ttl
    assert lease.revoke() is True
    assert db.get("session/1") is None
    assert db.get("session/2") is None
    kept = db.get("session/3")
    assert kept is not None and kept.lease is None
    assert lease.lost is True
    assert db.time_to_live(lease) is None
    events = [watch.next(5) for _ in range(5)]
    assert [(e.type, e.key) for e in events if e is not None] == [
        ("put", "session/1"),
        ("put", "session/2"),
        ("put", "session/3"),
        ("delete", "session/1"),
        ("delete", "session/2"),
    ]
    deletes = [e for e in events if e is not None and e.type == "delete"]
    assert all(e.index > put_index for e in deletes)
    assert all(e.value is None for e in deletes)
    watch.close()


def test_lease_as_context_manager_revokes_on_exit(db: Client) -> None:
    with db.lease(10) as lease:
        db.set("tmp", 1, lease=lease)
        assert db.get("tmp") is not None
    assert db.get("tmp") is None
    assert lease.lost


def test_grant_keepalive_time_to_live_revoke(db: Client) -> None:
    lease = db.grant(5)
    assert isinstance(lease, int)
    ttl = db.time_to_live(lease)
    assert ttl is not None and 0 < ttl <= 5
    db.set("leased", "v", lease=lease)
    entry = db.get("leased")
    assert entry is not None and entry.lease == lease
    renewed = db.keepalive(lease)
    assert 4 <= renewed <= 6
    assert db.revoke(lease) is True
    assert db.get("leased") is None
    assert db.time_to_live(lease) is None
    assert db.revoke(lease) is False
    with pytest.raises(LeaseExpiredError):
        db.keepalive(lease)


def test_keepalive_of_an_unknown_lease_raises_lease_expired(db: Client) -> None:
    with pytest.raises(LeaseExpiredError):
        db.keepalive(987654321)
    assert db.time_to_live(987654321) is None
    assert db.revoke(987654321) is False


def test_writing_with_an_unknown_lease_raises_and_writes_nothing(db: Client) -> None:
    start = db.index()
    with pytest.raises(LeaseExpiredError):
        db.set("k", 1, lease=987654321)
    assert db.get("k") is None
    assert db.index() == start


def test_a_bare_lease_not_kept_alive_expires_and_deletes_its_entries(db: Client) -> None:
    db.set("ephemeral/2", "stays")
    lease = db.grant(1)
    put_index = db.set("ephemeral/1", "here", lease=lease)
    watch = db.watch("ephemeral/", from_index=put_index + 1)
    wait_until(lambda: db.get("ephemeral/1") is None, "the 1 s lease to expire", timeout=6)
    event = watch.next(DEADLINE)
    assert event is not None
    assert (event.type, event.key) == ("delete", "ephemeral/1")
    assert event.index > put_index
    assert db.get("ephemeral/2") is not None
    assert db.time_to_live(lease) is None
    with pytest.raises(LeaseExpiredError):
        db.keepalive(lease)
    watch.close()


# watch


def test_watch_streams_puts_and_deletes_in_order(db: Client) -> None:
    with db.watch("jobs/") as watch:
        i1 = db.set("jobs/1", {"state": "new"})
        i2 = db.put("jobs/2", "b", 0).index
        db.set("other/1", "ignored")
        i3 = db.delete("jobs/1").index
        i4 = db.txn().set("jobs/3", 3).set("jobs/4", 4).set("other/2", 0).commit()
        events = [watch.next(5) for _ in range(5)]
        assert all(e is not None for e in events)
        got = [(e.type, e.key, e.value, e.index) for e in events if e is not None]
        assert got == [
            ("put", "jobs/1", {"state": "new"}, i1),
            ("put", "jobs/2", "b", i2),
            ("delete", "jobs/1", None, i3),
            ("put", "jobs/3", 3, i4),
            ("put", "jobs/4", 4, i4),
        ]
        assert watch.next(0.2) is None


def test_watch_next_returns_none_on_timeout(db: Client) -> None:
    watch = db.watch("quiet/")
    db.set("loud/1", 1)
    assert watch.next(0.1) is None
    db.set("quiet/1", 1)
    event = watch.next(5)
    assert event is not None and event.key == "quiet/1"
    watch.close()


def test_watch_starts_from_now_by_default(db: Client) -> None:
    db.set("w/before", 1)
    watch = db.watch("w/")
    db.set("w/after", 2)
    event = watch.next(5)
    assert event is not None and event.key == "w/after"
    watch.close()


def test_watch_resumes_from_an_index(db: Client) -> None:
    indexes = [db.set(f"r/{i}", i) for i in range(5)]
    db.delete("r/0")
    replay = db.watch("r/", from_index=indexes[0])
    got = [replay.next(5) for _ in range(6)]
    assert [(e.type, e.key) for e in got if e is not None] == [
        ("put", "r/0"),
        ("put", "r/1"),
        ("put", "r/2"),
        ("put", "r/3"),
        ("put", "r/4"),
        ("delete", "r/0"),
    ]
    replay.close()
    # A consumer that saw the event at indexes[2] resumes at the next index.
    resumed = db.watch("r/", from_index=indexes[2] + 1)
    first = resumed.next(5)
    assert first is not None and (first.key, first.index) == ("r/3", indexes[3])
    later = db.set("r/5", 5)
    events = [resumed.next(5) for _ in range(3)]
    assert [(e.type, e.key) for e in events if e is not None] == [
        ("put", "r/4"),
        ("delete", "r/0"),
        ("put", "r/5"),
    ]
    assert events[-1] is not None and events[-1].index == later
    resumed.close()


def test_watch_is_an_iterator(db: Client) -> None:
    watch = db.watch("it/")
    for i in range(3):
        db.set(f"it/{i}", i)
    seen = []
    for event in watch:
        seen.append(event.value)
        if len(seen) == 3:
            break
    assert seen == [0, 1, 2]
    watch.close()


def test_watch_filters_by_prefix_and_hides_reserved_keys(db: Client) -> None:
    watch = db.watch("")
    lock = db.lock("printer")
    lock.acquire()
    db.set("a/b", 1)
    lock.release()
    db.set("ab", 2)
    events = [watch.next(5) for _ in range(2)]
    assert [e.key for e in events if e is not None] == ["a/b", "ab"]
    assert watch.next(0.1) is None
    watch.close()
    narrow = db.watch("a/", from_index=1)
    event = narrow.next(5)
    assert event is not None and event.key == "a/b"
    assert narrow.next(0.1) is None
    narrow.close()


def test_watch_sees_writes_from_another_client(db: Client, url: str) -> None:
    watch = db.watch("x/")
    other = interlock.connect(url)
    try:
        index = other.set("x/1", "hi")
        event = watch.next(5)
        assert event is not None and (event.key, event.value, event.index) == ("x/1", "hi", index)
    finally:
        other.close()
        watch.close()


# sessions


def test_session_saves_dicts_changed_in_place(db: Client) -> None:
    db.set("accounts/1", {"funds": 100})
    db.set("accounts/2", {"funds": 5})
    with db.session() as s:
        src = s.load("accounts/1")
        dst = s.load("accounts/2")
        src["funds"] -= 10
        dst["funds"] += 10
        index = s.save_changes()
    assert index is not None and index == db.index()
    a1, a2 = db.get("accounts/1"), db.get("accounts/2")
    assert a1 is not None and a2 is not None
    assert (a1.value, a1.index) == ({"funds": 90}, index)
    assert (a2.value, a2.index) == ({"funds": 15}, index)


def test_session_saves_lists_changed_in_place(db: Client) -> None:
    db.set("queue", ["a"])
    s = db.session()
    items = s.load("queue")
    items.append("b")
    items.insert(0, "z")
    s.save_changes()
    entry = db.get("queue")
    assert entry is not None and entry.value == ["z", "a", "b"]


def test_session_only_writes_changed_documents(db: Client) -> None:
    i1 = db.set("d/1", {"v": 1})
    db.set("d/2", {"v": 2})
    s = db.session()
    s.load("d/1")
    s.load("d/2")["v"] = 20
    index = s.save_changes()
    d1 = db.get("d/1")
    d2 = db.get("d/2")
    assert d1 is not None and d1.index == i1
    assert d2 is not None and (d2.value, d2.index) == ({"v": 20}, index)


def test_session_can_save_again_after_saving(db: Client) -> None:
    db.set("doc", {"n": 0})
    s = db.session()
    doc = s.load("doc")
    doc["n"] = 1
    first = s.save_changes()
    assert s.loaded_index("doc") == first
    doc["n"] = 2
    second = s.save_changes()
    assert first is not None and second is not None and second > first
    entry = db.get("doc")
    assert entry is not None and (entry.value, entry.index) == ({"n": 2}, second)


def test_session_load_of_an_absent_key_is_none(db: Client) -> None:
    s = db.session()
    assert s.load("missing") is None
    assert s.loaded_index("missing") == 0
    assert s.loaded_index("never-loaded") is None
    assert s.has_changes is False
    assert s.save_changes() is None


def test_session_load_many(db: Client) -> None:
    db.set("m/1", {"a": 1})
    s = db.session()
    got = s.load_many(["m/1", "m/2"])
    assert got == {"m/1": {"a": 1}, "m/2": None}
    got["m/1"]["a"] = 2
    assert s.load("m/1") is got["m/1"]
    s.save_changes()
    entry = db.get("m/1")
    assert entry is not None and entry.value == {"a": 2}


def test_session_store_writes_a_new_key(db: Client) -> None:
    s = db.session()
    s.store("users/1", {"name": "Ada"})
    assert s.has_changes
    index = s.save_changes()
    entry = db.get("users/1")
    assert entry is not None and (entry.value, entry.index) == ({"name": "Ada"}, index)


def test_session_store_replaces_a_loaded_key(db: Client) -> None:
    db.set("cfg", {"old": True})
    s = db.session()
    s.load("cfg")
    s.store("cfg", ["new"])
    s.save_changes()
    entry = db.get("cfg")
    assert entry is not None and entry.value == ["new"]


def test_session_stored_value_changed_in_place_is_saved(db: Client) -> None:
    s = db.session()
    doc: dict[str, Any] = {"tags": []}
    s.store("post", doc)
    doc["tags"].append("x")
    s.save_changes()
    entry = db.get("post")
    assert entry is not None and entry.value == {"tags": ["x"]}


def test_session_delete(db: Client) -> None:
    db.set("a", 1)
    db.set("b", 2)
    s = db.session()
    s.load("a")
    s.delete("a")
    s.delete("b")  # never loaded
    assert s.has_changes
    s.save_changes()
    assert db.get("a") is None
    assert db.get("b") is None


def test_session_optimistic_conflict_raises_and_writes_nothing(db: Client) -> None:
    i1 = db.set("accounts/1", {"funds": 100})
    i2 = db.set("accounts/2", {"funds": 0})
    first = db.session()
    second = db.session()
    a = first.load("accounts/1")
    b = first.load("accounts/2")
    second.load("accounts/1")["funds"] = 50
    theirs = second.save_changes()
    assert theirs is not None
    a["funds"] -= 10
    b["funds"] += 10
    first.store("audit/1", "transfer")
    before = db.index()
    with pytest.raises(ConcurrencyError) as raised:
        first.save_changes()
    assert raised.value.conflicts == [Conflict("accounts/1", i1, theirs)]
    assert "accounts/1" in str(raised.value)
    assert str(i1) in str(raised.value) and str(theirs) in str(raised.value)
    assert db.index() == before
    e1, e2 = db.get("accounts/1"), db.get("accounts/2")
    assert e1 is not None and e1.value == {"funds": 50}
    assert e2 is not None and (e2.value, e2.index) == ({"funds": 0}, i2)
    assert db.get("audit/1") is None


def test_session_without_optimistic_concurrency_last_write_wins(db: Client) -> None:
    db.set("doc", {"v": 0})
    first = db.session(optimistic=False)
    second = db.session(optimistic=False)
    first.load("doc")["v"] = 1
    second.load("doc")["v"] = 2
    second.save_changes()
    first.save_changes()
    entry = db.get("doc")
    assert entry is not None and entry.value == {"v": 1}
    blind = db.session(optimistic=False)
    blind.store("doc", "replaced")  # exists, never loaded: allowed without optimism
    blind.save_changes()
    entry = db.get("doc")
    assert entry is not None and entry.value == "replaced"


def test_session_store_of_an_existing_never_loaded_key_conflicts(db: Client) -> None:
    existing = db.set("users/1", {"name": "Ada"})
    s = db.session()
    s.store("users/1", {"name": "Eve"})
    with pytest.raises(ConcurrencyError) as raised:
        s.save_changes()
    assert raised.value.conflicts == [Conflict("users/1", 0, existing)]
    entry = db.get("users/1")
    assert entry is not None and entry.value == {"name": "Ada"}


def test_session_load_of_an_absent_key_then_store_conflicts_if_created_meanwhile(
    db: Client,
) -> None:
    s = db.session()
    assert s.load("slot") is None
    theirs = db.set("slot", "taken")
    s.store("slot", "mine")
    with pytest.raises(ConcurrencyError) as raised:
        s.save_changes()
    assert raised.value.conflicts == [Conflict("slot", 0, theirs)]


def test_session_compare_exchange_commits_with_the_documents(db: Client) -> None:
    s = db.session()
    s.store("users/1", {"email": "a@b.c"})
    s.put_compare_exchange("emails/a@b.c", "users/1", 0)
    index = s.save_changes()
    user, email = db.get("users/1"), db.get("emails/a@b.c")
    assert user is not None and email is not None
    assert user.index == email.index == index
    # A second user claiming the same address: the guard fails, the document is not written.
    s2 = db.session()
    s2.store("users/2", {"email": "a@b.c"})
    s2.put_compare_exchange("emails/a@b.c", "users/2", 0)
    with pytest.raises(ConcurrencyError) as raised:
        s2.save_changes()
    assert raised.value.conflicts == [Conflict("emails/a@b.c", 0, index)]
    assert db.get("users/2") is None
    email = db.get("emails/a@b.c")
    assert email is not None and email.value == "users/1"


def test_session_delete_compare_exchange(db: Client) -> None:
    index = db.set("claims/x", "me")
    s = db.session()
    s.delete_compare_exchange("claims/x", index)
    assert s.has_changes
    s.save_changes()
    assert db.get("claims/x") is None


def test_session_has_changes(db: Client) -> None:
    db.set("doc", {"a": 1})
    s = db.session()
    assert s.has_changes is False
    doc = s.load("doc")
    assert s.has_changes is False
    doc["a"] = 2
    assert s.has_changes is True
    doc["a"] = 1
    assert s.has_changes is False, "a value changed back equals the snapshot"
    doc["b"] = None
    assert s.has_changes is True
    s.save_changes()
    assert s.has_changes is False


def test_session_save_changes_with_nothing_changed_returns_none(db: Client) -> None:
    db.set("doc", {"a": [1, 2]})
    before = db.index()
    s = db.session()
    assert s.save_changes() is None
    s.load("doc")
    s.load("absent")
    assert s.save_changes() is None
    assert db.index() == before


def test_session_loading_a_key_twice_returns_the_same_object(db: Client) -> None:
    db.set("doc", {"a": 1})
    s = db.session()
    first = s.load("doc")
    db.set("doc", {"a": "changed by someone else"})
    second = s.load("doc")
    assert second is first
    assert second == {"a": 1}


# retry


def test_retry_reruns_on_conflict_and_returns_the_result(db: Client) -> None:
    calls = []

    def fn() -> str:
        calls.append(1)
        if len(calls) < 3:
            db.txn().check("never", 1).commit()  # a real conflict
        return "done"

    assert db.retry(fn) == "done"
    assert len(calls) == 3


def test_retry_makes_concurrent_read_modify_write_correct(db: Client) -> None:
    db.set("counter", 0)

    def increment() -> int:
        entry = db.get("counter")
        assert entry is not None
        return db.txn().put("counter", entry.value + 1, index=entry.index).commit()

    failure: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(10):
                db.retry(increment, attempts=200)
        except BaseException as e:  # reported by the test
            failure.append(e)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failure, failure
    entry = db.get("counter")
    assert entry is not None and entry.value == 40


def test_retry_raises_the_last_conflict_when_attempts_run_out(db: Client) -> None:
    raised: list[ConcurrencyError] = []

    def fn() -> None:
        try:
            db.txn().check("never", len(raised) + 1).commit()
        except ConcurrencyError as e:
            raised.append(e)
            raise

    with pytest.raises(ConcurrencyError) as final:
        db.retry(fn, attempts=4)
    assert len(raised) == 4
    assert final.value is raised[-1]
    assert final.value.conflicts == [Conflict("never", 4, 0)]


@pytest.mark.parametrize(
    "error", [KeyError("k"), InvalidArgumentError("bad"), LeaseExpiredError("gone")]
)
def test_retry_lets_other_exceptions_through_at_once(db: Client, error: Exception) -> None:
    calls = []

    def fn() -> None:
        calls.append(1)
        raise error

    with pytest.raises(type(error)) as raised:
        db.retry(fn, attempts=5)
    assert raised.value is error
    assert len(calls) == 1
