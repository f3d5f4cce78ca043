"""ArrayStore: Laravel's in-process `array` cache driver (values, TTLs, locks)."""

from __future__ import annotations

import threading

from laravel_queue.cache.array import ArrayStore
from laravel_queue.config import load_settings
from laravel_queue.connections import Connections


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def test_values_expire_on_the_stores_clock():
    clock = Clock()
    store = ArrayStore(clock=clock)
    store.put("k", {"a": [1, 2]}, 10)
    value = store.get("k")
    value["a"].append(3)  # callers get copies
    assert store.get("k") == {"a": [1, 2]}
    clock.t += 9.9
    assert store.many(["k", "missing"]) == [{"a": [1, 2]}, None]
    clock.t += 0.1
    assert store.get("k") is None
    store.put("k", 1, 0)  # a non-positive TTL forgets
    assert store.get("k") is None
    store.forever("f", True)
    clock.t += 10**9
    assert store.get("f") is True
    assert store.forget("f") and not store.forget("f")


def test_add_and_increment():
    clock = Clock()
    store = ArrayStore(clock=clock)
    assert store.add("a", "x", 5) and not store.add("a", "y", 5)
    assert not store.add("zero", 1, 0)
    clock.t += 5
    assert store.add("a", "y", 5) and store.get("a") == "y"
    assert store.increment("n") == 1 and store.increment("n", 4) == 5
    store.put("n2", 10, 30)
    assert store.increment("n2", -3) == 7
    clock.t += 30
    assert store.get("n2") is None  # increment kept the expiry
    store.forever("s", "text")
    assert store.increment("s") is None


def test_locks_owner_expiry_and_force_release():
    clock = Clock()
    store = ArrayStore(clock=clock)
    first = store.lock("job", 10)
    assert len(first.owner) == 16 and first.owner.isalnum()
    assert first.acquire()
    other = store.lock("job", 10, owner="other-owner")
    assert not other.acquire()
    assert not other.release()  # not ours
    assert other.get_current_owner() == first.owner
    clock.t += 10
    assert other.acquire()  # expired
    assert not first.release()
    other.force_release()
    assert first.get_current_owner() is None
    forever = store.lock("forever", 0)
    assert forever.acquire()
    clock.t += 10**9
    assert not store.lock("forever", 5).acquire()
    assert store.restore_lock("forever", forever.owner).release()


def test_lock_is_atomic_across_threads():
    store = ArrayStore()
    winners: list[int] = []
    barrier = threading.Barrier(8)

    def contend(index: int) -> None:
        barrier.wait()
        if store.lock("race", 60).acquire():
            winners.append(index)

    threads = [threading.Thread(target=contend, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


def test_connections_build_array_store_for_array_and_null(tmp_path):
    connections = Connections(load_settings(environ={"CACHE_STORE": "array"}, app_path=tmp_path))
    store = connections.cache()
    assert isinstance(store, ArrayStore) and connections.cache("array") is store
    assert isinstance(connections.cache("null"), ArrayStore)
    connections.close()
