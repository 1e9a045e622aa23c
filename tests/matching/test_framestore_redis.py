"""The Redis frame store against a real Redis (CI): a frame nobody takes does not outlive its TTL, even while its
session keeps running, and nothing of a session is left once it is purged."""

from __future__ import annotations

import uuid

import pytest

from matching import framestore
from tests.services import redis_broker_url, require

SESSION = 987_654_321  # far from any id a test database hands out


@pytest.fixture
def store(settings):
    require(redis_broker_url() is not None, "Redis (CELERY_BROKER_URL=redis://...)")
    settings.LFR_LIVE_BUDGET_SECONDS = 5  # TTL 15 s
    redis_store = framestore.RedisFrameStore(redis_broker_url())
    redis_store.purge(SESSION)
    yield redis_store
    redis_store.purge(SESSION)


def _put(store, limit: int = 3) -> tuple[str, int | None]:
    frame_id = uuid.uuid4().hex
    return frame_id, store.put(SESSION, frame_id, b"frame " + frame_id.encode(), limit=limit)


def test_a_frame_whose_task_was_lost_is_dropped_by_the_next_put_after_its_ttl(store):
    orphan, _ = _put(store)
    taken, _ = _put(store)
    assert store.claim_take(SESSION, taken) == (True, b"frame " + taken.encode())
    # The orphan's task never came (a web process died before enqueueing it): age it past the TTL.
    times = framestore.TIMES_KEY.format(session_id=SESSION)
    store.client.zadd(times, {orphan: 1.0})
    assert store.depth(SESSION) == 1

    fresh, depth = _put(store)

    assert depth == 1  # the orphan no longer counts against the session's queue
    assert store.take(SESSION, orphan) is None
    assert store.client.zrange(times, 0, -1) == [fresh.encode()]
    assert store.client.ttl(times) > 0 and store.client.ttl(framestore.FRAMES_KEY.format(session_id=SESSION)) > 0


def test_the_cap_counts_only_frames_within_their_ttl(store):
    ids = [_put(store, limit=2)[0] for _ in range(2)]
    assert _put(store, limit=2)[1] is None  # full
    store.client.zadd(framestore.TIMES_KEY.format(session_id=SESSION), {ids[0]: 1.0})
    assert _put(store, limit=2)[1] == 2  # the stale one made room


def test_purge_leaves_no_key_of_the_session(store):
    frame_id, _ = _put(store)
    store.claim_take(SESSION, uuid.uuid4().hex)
    assert SESSION in store.session_ids()
    assert store.purge(SESSION) == 1
    keys = (framestore.FRAMES_KEY, framestore.CLAIMS_KEY, framestore.TIMES_KEY)
    assert not store.client.exists(*(key.format(session_id=SESSION) for key in keys))
    assert SESSION not in store.session_ids()


@pytest.fixture
def snapshotting(store):
    """The test Redis set to take RDB snapshots (at a rate it will never reach in the test), then restored."""
    before = store.client.config_get("save")["save"]
    store.client.config_set("save", "86400 1000000000")
    try:
        yield store
    finally:
        store.client.config_set("save", before)


def test_a_redis_that_saves_to_disk_takes_no_frame(snapshotting, settings):
    with pytest.raises(framestore.FrameStoreUnsafe, match=r"writes its data to disk \(save '86400 1000000000'\)"):
        _put(snapshotting)
    assert snapshotting.depth(SESSION) == 0
    with pytest.raises(framestore.FrameStoreUnsafe):
        snapshotting.ping()  # so /healthz shows it too
    settings.LFR_FRAME_STORE_VOLATILE_CONFIRMED = True  # someone checked it by other means (CONFIG disabled)
    assert _put(snapshotting)[1] == 1


def test_the_persistence_check_is_repeated_while_frames_flow(store):
    """A server set to save after the store first checked it is caught within VOLATILE_RECHECK_SECONDS."""
    assert _put(store)[1] == 1
    before = store.client.config_get("save")["save"]
    store.client.config_set("save", "86400 1000000000")
    try:
        assert _put(store)[1] == 2  # checked a moment ago: not read again yet
        store._volatile_at -= framestore.VOLATILE_RECHECK_SECONDS
        with pytest.raises(framestore.FrameStoreUnsafe):
            _put(store)
    finally:
        store.client.config_set("save", before)


def test_where_config_is_disabled_frames_wait_for_a_confirmation(settings):
    """Some managed Redis services refuse CONFIG: the store cannot verify, so it refuses until told it was checked.
    (A stand-in client: a real server cannot disable CONFIG at run time.)"""
    import redis

    class NoConfig:
        def config_get(self, name):
            raise redis.ResponseError("unknown command 'CONFIG'")

    redis_store = framestore.RedisFrameStore("redis://127.0.0.1:1/0")  # never connected: the client is replaced
    redis_store.client = NoConfig()
    with pytest.raises(framestore.FrameStoreUnsafe, match="LFR_FRAME_STORE_VOLATILE_CONFIRMED=1"):
        redis_store.require_volatile()
    settings.LFR_FRAME_STORE_VOLATILE_CONFIRMED = True
    redis_store.require_volatile()


def test_a_redis_with_a_replica_takes_no_frame_unless_confirmed(settings):
    """A replica writes a full resync to its own disk by default, and the primary cannot see its settings. (A
    stand-in client: the test Redis has no replica.)"""

    class WithReplica:
        def config_get(self, name):
            return {"save": "", "appendonly": "no"} if name == "save" else {"appendonly": "no"}

        def info(self, section):
            return {"role": "master", "connected_slaves": 1}

    redis_store = framestore.RedisFrameStore("redis://127.0.0.1:1/0")
    redis_store.client = WithReplica()
    with pytest.raises(framestore.FrameStoreUnsafe, match="1 connected replica"):
        redis_store.require_volatile()
    settings.LFR_FRAME_STORE_VOLATILE_CONFIRMED = True
    redis_store.require_volatile()
