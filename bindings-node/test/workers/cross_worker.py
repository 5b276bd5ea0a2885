"""The Python side of the cross-language test (crosslang.test.mjs); workers/cross.mjs is the Node
side, and both do exactly the same.

Usage: `python cross_worker.py URL ROUNDS`. Connects, prints "ready", waits for a line on
stdin, then ROUNDS times: takes
the lock "shared-counter", reads the counter "counters/shared", writes it back plus one with a
compare-exchange at the index it read (which must succeed while the lock is held), and releases.
Prints one JSON line: the [fencing token, value read] of every round, in order.
"""

import json
import sys

import interlock


def main() -> None:
    url, rounds = sys.argv[1], int(sys.argv[2])
    db = interlock.connect(url)
    lock = db.lock("shared-counter", ttl=10, owner="python")
    print("ready", flush=True)
    sys.stdin.readline()
    seen = []
    for _ in range(rounds):
        if not lock.acquire(timeout=60):
            raise SystemExit("the lock was not acquired within 60 s")
        token = lock.fencing_token
        entry = db.get("counters/shared")
        value, index = (entry.value, entry.index) if entry is not None else (0, 0)
        r = db.put("counters/shared", value + 1, index=index)
        if not r.successful:
            raise SystemExit(f"the counter moved while the lock was held: {r}")
        seen.append([token, value])
        lock.release()
    db.close()
    print(json.dumps(seen), flush=True)


main()
