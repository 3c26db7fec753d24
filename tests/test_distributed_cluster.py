"""A node removed from a multi-node Ray cluster (ray.cluster_utils.Cluster, all on this machine):
the shard actors it hosted restart on the other node from their files and searches give the
same bits. Slow (starting nodes); skipped without Ray.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")

from panning.distributed import LocalShardedIndex, RayShardedIndex, build_shards  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    c = cluster_utils.Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 0, "include_dashboard": False},
    )
    # Two worker nodes that can host shards (the custom resource keeps shards off the head).
    nodes = [c.add_node(num_cpus=1, resources={"shard_host": 4}) for _ in range(2)]
    ray.init(address=c.address, logging_level="warning")
    c.wait_for_nodes()
    yield c, nodes
    ray.shutdown()
    c.shutdown()


def test_node_removed_shards_recover(cluster, tmp_path):
    c, nodes = cluster
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 16)).astype(np.float32)
    manifest = build_shards(x, tmp_path, 4, metric="l2", threads=1)
    index = RayShardedIndex(manifest, num_cpus=0.1, actor_options={"resources": {"shard_host": 1}})
    expected = LocalShardedIndex.load(manifest).search(x[:300], 10, ef=100)
    before = index.shard_info()
    on_node = {n.node_id: n for n in nodes}
    victim = on_node[before[0]["node_id"]]
    moved = [i for i, s in enumerate(before) if s["node_id"] == victim.node_id]
    c.remove_node(victim)
    ids, dist = index.search(x[:300], 10, ef=100)
    np.testing.assert_array_equal(ids, expected[0])
    np.testing.assert_array_equal(dist, expected[1])
    after = index.shard_info()
    assert all(after[i]["node_id"] != victim.node_id for i in moved)
    assert all(s["size"] == 500 for s in after)
    index.close()
