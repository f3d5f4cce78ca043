"""The Redis driver on a real 3-node Redis Cluster with hash-tagged queue names (`{default}`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import free_port, port_open, unavailable, wait_for
from redis.cluster import RedisCluster

from laravel_queue.config import load_settings
from laravel_queue.connections import Connections
from laravel_queue.drivers.redis import RedisQueue
from laravel_queue.redis_client import make_redis_client

NOW = 1795417243


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is valid and free too."""
    while True:
        port = free_port()
        if port + 10000 <= 65535 and not port_open("127.0.0.1", port + 10000):
            return port


@pytest.fixture(scope="module")
def cluster_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """Three cluster-enabled redis-server processes on loopback, joined into one cluster."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if not server or not cli:
        unavailable("redis-server and redis-cli are needed for the cluster test (apt-get install redis-server)")
    assert server and cli
    ports = [_cluster_port() for _ in range(3)]
    procs = []
    for port in ports:
        workdir: Path = tmp_path_factory.mktemp(f"cluster-{port}")
        procs.append(
            subprocess.Popen(
                [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", str(workdir / "nodes.conf"), "--save", "", "--appendonly", "no",
                 "--dir", str(workdir)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )  # fmt: skip
    try:
        for port in ports:
            wait_for(lambda p=port: port_open("127.0.0.1", p), what=f"cluster node {port}")
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-replicas", "0",
             "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip

        def cluster_ok() -> bool:
            for port in ports:
                with redis.Redis(port=port) as node:
                    info = node.execute_command("CLUSTER INFO")
                if isinstance(info, bytes):
                    info = dict(line.split(":", 1) for line in info.decode().split() if ":" in line)
                if info.get("cluster_state") not in ("ok", b"ok"):
                    return False
            return True

        wait_for(cluster_ok, timeout=30, interval=0.1, what="cluster_state:ok")
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(10)


def cluster_env(cluster_nodes: list[int], redis_prefix: str, **extra: str) -> dict[str, str]:
    return {
        "QUEUE_CONNECTION": "redis",
        "REDIS_PREFIX": redis_prefix,
        "REDIS_CLUSTER_NODES": ",".join(f"127.0.0.1:{p}" for p in cluster_nodes),
        **extra,
    }


@pytest.fixture
def cluster(cluster_nodes: list[int], redis_prefix: str) -> Iterator[Connections]:
    conns = Connections(load_settings(environ=cluster_env(cluster_nodes, redis_prefix, REDIS_QUEUE="{default}")))
    yield conns
    conns.close()


def payload(tag: str) -> str:
    return json.dumps({"uuid": tag, "job": "X@y", "data": {}, "createdAt": NOW, "id": f"id-{tag}", "attempts": 0})


def test_cluster_client_and_full_job_cycle(cluster: Connections, redis_prefix: str) -> None:
    client: Any = cluster.redis("default")
    assert isinstance(client, RedisCluster)
    assert isinstance(make_redis_client(cluster.settings, "default"), RedisCluster)
    queue = cluster.queue("redis")
    assert isinstance(queue, RedisQueue)
    queue.clock = lambda: NOW
    assert queue.default_queue == "{default}"
    keys = queue.keys()
    assert len({client.keyslot(k) for k in (keys.queue, keys.delayed, keys.reserved, keys.notify)}) == 1
    try:
        queue.push_raw(payload("a"))
        queue.push_raw(payload("b"))
        queue.push_raw(payload("later"), delay=5)
        first = queue.pop()
        assert first is not None and first.job_id == "id-a" and first.attempts() == 1
        first.delete_later()
        second = queue.pop(ack=first)
        assert second is not None and second.job_id == "id-b"
        second.release(1)
        assert (queue.pending_size(), queue.delayed_size(), queue.reserved_size()) == (0, 2, 0)
        queue.clock = lambda: NOW + 5
        jobs = [queue.pop(), queue.pop()]
        assert sorted(j.job_id for j in jobs if j) == ["id-b", "id-later"]
        assert [j.attempts() for j in jobs if j and j.job_id == "id-b"] == [2]
        # an ack from a queue in another slot cannot ride in the same script: it is sent first
        queue.push_raw(payload("other"), "{other}")
        other = queue.pop("{other}")
        assert other is not None
        assert client.keyslot(queue.keys("{other}").reserved) != client.keyslot(keys.queue)
        other.delete_later()
        assert queue.pop(ack=other) is None
        assert queue.reserved_size("{other}") == 0
        queue.flush_acks([j for j in jobs if j])
        assert queue.size() == 0
    finally:
        for name in ("{default}", "{other}"):
            queue.clear(name)


def test_laravel_13_hash_tags_plain_queue_names(cluster_nodes: list[int], redis_prefix: str) -> None:
    """13.x RedisQueue::getQueueRedisKey on a cluster: `queues:{emails}`, a tagged name kept as is."""
    env = cluster_env(cluster_nodes, redis_prefix, LARAVEL_VERSION="13")
    conns = Connections(load_settings(environ=env))
    try:
        queue = conns.queue("redis")
        assert isinstance(queue, RedisQueue)
        keys = queue.keys("emails")
        assert keys.queue == f"{redis_prefix}queues:{{emails}}"
        assert keys.delayed == f"{redis_prefix}queues:{{emails}}:delayed"
        assert queue.keys("{shop}:emails").queue == f"{redis_prefix}queues:{{shop}}:emails"
        queue.push_raw(payload("a"), "emails")
        job = queue.pop("emails")
        assert job is not None and job.job_id == "id-a" and job.queue == "emails"
        job.delete()
        assert queue.size("emails") == 0
    finally:
        conns.close()
    twelve = Connections(load_settings(environ={**env, "LARAVEL_VERSION": "12"}))
    try:
        assert twelve.queue("redis").keys("emails").queue == f"{redis_prefix}queues:emails"  # type: ignore[attr-defined]
    finally:
        twelve.close()
