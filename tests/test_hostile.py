"""Hostile input: crafted files, impossible sizes, bad labels, concurrent writers.

Each class of defect found by the adversarial review (issue 11) has a regression test here; the
crafted files live in tests/data/hostile/ and are made by tests/data/make_hostile.py. Property-based
tests over every entry point are in test_properties.py.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import pathlib
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

import panning
from panning.distributed import LocalShardedIndex, read_manifest
from panning.seals import SessionInUseError

DATA = pathlib.Path(__file__).parent / "data"
HOSTILE = DATA / "hostile"


def _generator():
    spec = importlib.util.spec_from_file_location("make_hostile", DATA / "make_hostile.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["make_hostile"] = module
    spec.loader.exec_module(module)
    return module


make_hostile = _generator()


# ---- the crafted corpus ------------------------------------------------------------------------
def test_corpus_is_complete():
    on_disk = {
        str(p.relative_to(HOSTILE))
        for p in HOSTILE.rglob("*")
        if p.is_file() and "shards" not in p.parts and p.name not in ("good.json", "outside.pnidx")
    }
    assert on_disk == set(make_hostile.CASES)


@pytest.mark.parametrize("case", sorted(c for c in make_hostile.CASES if c.startswith("index/")))
def test_crafted_index_files_are_refused(case):
    data = (HOSTILE / case).read_bytes()
    # the checksum is valid: only structural validation can catch these
    body, stored = data[:-8], int.from_bytes(data[-8:], "little")
    assert make_hostile.checksum(body) == stored
    with pytest.raises(ValueError, match=make_hostile.CASES[case]):
        panning.HNSWIndex.load(HOSTILE / case)


@pytest.mark.parametrize(
    "n, dim, storage",
    [(0, 3, "float32"), (1, 5, "float16"), (97, 7, "float32"), (300, 8, "float16")],
)
def test_saved_files_carry_the_version_2_checksum(tmp_path, n, dim, storage):
    # The C++ checksum is fed in pieces of every size (header, labels, levels, nodes, upper links);
    # its Python twin reads the body in one go: equal results pin the block/remainder handling.
    index = panning.HNSWIndex(dim, M=4, ef_construction=16, seed=1, storage=storage, threads=1)
    if n:
        index.add(np.random.default_rng(n).normal(size=(n, dim)).astype(np.float32))
    index.save(tmp_path / "x.pnidx")
    data = (tmp_path / "x.pnidx").read_bytes()
    body, stored = data[:-8], int.from_bytes(data[-8:], "little")
    assert int.from_bytes(body[8:12], "little") == 2
    assert make_hostile.word_sum(body) == stored
    assert make_hostile.fnv1a(body) != stored


def test_uncrafted_index_file_loads(tmp_path):
    # the corpus's base file, parsed and re-serialised unchanged, loads and searches
    f = make_hostile.IndexFile.parse(make_hostile._index_bytes())
    path = tmp_path / "same.pnidx"
    path.write_bytes(f.serialize())
    index = panning.HNSWIndex.load(path)
    x = make_hostile.index_data()
    assert index.search(x[:5], 1)[0].ravel().tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("case", sorted(c for c in make_hostile.CASES if c.startswith("session/")))
def test_crafted_session_files_are_refused(tmp_path, case):
    path = tmp_path / "s.db"
    shutil.copy(HOSTILE / case, path)
    before = path.read_bytes()
    with pytest.raises(ValueError, match=make_hostile.CASES[case]):
        panning.Seals.resume(path, make_hostile.session_data())
    assert not os.path.exists(str(path) + ".lock") or _lock_free(path)
    if case.endswith(("future.db", "not_sqlite.db", "missing_labels_table.db", "text.db")):
        assert path.read_bytes() == before  # refused before anything opened it for writing


def _lock_free(path) -> bool:
    # the refused resume released the writer lock: a new session can take it
    from panning._session_store import _WriterLock

    lock = _WriterLock(str(path))
    lock.release()
    return True


def test_good_session_resumes(tmp_path):
    path = str(tmp_path / "good.db")
    make_hostile._session(path)
    s = panning.Seals.resume(path, make_hostile.session_data())
    assert s.n_labeled == 15
    s.close()


@pytest.fixture
def manifests(tmp_path):
    shutil.copytree(HOSTILE / "manifests", tmp_path / "m" / "manifests")
    shutil.copy(HOSTILE / "outside.pnidx", tmp_path / "m" / "outside.pnidx")
    return tmp_path / "m" / "manifests"


@pytest.mark.parametrize(
    "case", sorted(c for c in make_hostile.CASES if c.startswith("manifests/"))
)
def test_crafted_manifests_are_refused(manifests, case):
    with pytest.raises(ValueError, match=make_hostile.CASES[case]):
        LocalShardedIndex.load(manifests / pathlib.Path(case).name)


def test_good_manifest_loads(manifests):
    index = LocalShardedIndex.load(manifests / "good.json")
    assert len(index) == 100 and index.shard_sizes == [50, 50]


def test_manifest_paths_outside_the_folder(manifests, tmp_path):
    escape = manifests / "path_escapes_folder.json"
    index = LocalShardedIndex.load(escape, allow_outside=True)  # trusted: allowed
    assert len(index) == 60
    # absolute path
    text = (manifests / "good.json").read_text()
    absolute = text.replace('"shards/b.pnidx"', f'"{manifests / "shards" / "b.pnidx"}"')
    (manifests / "absolute.json").write_text(absolute)
    with pytest.raises(ValueError, match="relative"):
        read_manifest(manifests / "absolute.json")
    # a symlink inside the folder that leads out of it
    os.symlink(tmp_path / "m" / "outside.pnidx", manifests / "shards" / "link.pnidx")
    linked = text.replace('"shards/b.pnidx"', '"shards/link.pnidx"')
    (manifests / "linked.json").write_text(linked)
    with pytest.raises(ValueError, match="outside the manifest's folder"):
        read_manifest(manifests / "linked.json")


def test_shard_list_with_a_file_twice(manifests):
    a = manifests / "shards" / "a.pnidx"
    with pytest.raises(ValueError, match="listed twice"):
        LocalShardedIndex.load([a, a])


# ---- sizes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("k", [2**62, 2**60 + 1, 10**12, 2**31])
def test_impossible_k_is_a_value_error(k):
    x = np.random.default_rng(0).normal(size=(16, 8)).astype(np.float32)
    flat = panning.FlatIndex(8)
    flat.add(x)
    hnsw = panning.HNSWIndex(8)
    hnsw.add(x)
    for call in (
        lambda: flat.knn_graph(k),
        lambda: hnsw.knn_graph(k),
        lambda: panning.knn_graph(x, k),
        lambda: panning.knn_graph(x, k, exact=False),
        lambda: flat.search(x[:1], k),
        lambda: hnsw.search(x[:1], k),
        lambda: hnsw.search(x[:1], 1, ef=k),
    ):
        with pytest.raises(ValueError, match=r"must be in \[1, 2147483647\]"):
            call()


@pytest.mark.skipif(
    os.environ.get("PANNING_SANITIZE") == "1",
    reason="ASan's operator new aborts on an impossible allocation instead of throwing",
)
def test_allocation_that_cannot_be_met_is_a_memory_error():
    # 16,384 rows x (2**31 - 1) neighbours x 8 bytes is 256 TiB: beyond any address space.
    flat = panning.FlatIndex(1)
    flat.add(np.zeros((16384, 1), np.float32))
    with pytest.raises(MemoryError, match=r"cannot allocate \d+ bytes"):
        flat.knn_graph(2**31 - 1)


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"M": 2**40}, "M"),
        ({"M": 4097}, "M"),
        ({"ef_construction": 2**40}, "ef_construction"),
        ({"threads": 2**40}, "threads"),
        ({"threads": 10**6}, "threads"),
    ],
)
def test_impossible_index_parameters(kwargs, name):
    with pytest.raises(ValueError, match=name):
        panning.HNSWIndex(8, **kwargs)


def test_impossible_dim():
    for cls in (panning.HNSWIndex, panning.FlatIndex):
        with pytest.raises(ValueError, match="dim"):
            cls(2**40)
    index = panning.HNSWIndex(4)
    with pytest.raises(ValueError, match="ef"):
        index.ef = 2**40


def test_native_boundary_checks_sizes_itself():
    # the second line of defence: the private module refuses what the Python layer would
    x = np.ones((4, 4), np.float32)
    native = panning._core.HnswIndex(4, 0, 0, 16, 200, 0)
    native.add(x, 0, None, 1)
    with pytest.raises(ValueError, match="ef must be in"):
        native.search(x, 0, 1, 2**40, None, 1)
    with pytest.raises(ValueError, match="threads"):
        native.search(x, 0, 1, 8, None, 2**40)
    with pytest.raises(ValueError, match="M must be in"):
        panning._core.HnswIndex(4, 0, 0, 2**40, 200, 0)
    with pytest.raises(ValueError, match="k must be in"):
        native.knn_graph(2**62, 8, 1)


# ---- index files -------------------------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_save_removes_stale_temporaries_of_dead_writers_only(tmp_path):
    host = socket.gethostname().replace("-", "_") or "host"
    dead = tmp_path / f".panning-index-{host}-{_dead_pid()}-abc123.tmp"
    alive = tmp_path / f".panning-index-{host}-{os.getppid()}-def456.tmp"
    other_host = tmp_path / f".panning-index-elsewhere-{_dead_pid()}-ghi789.tmp"
    not_ours = tmp_path / "notes.tmp"
    for p in (dead, alive, other_host, not_ours):
        p.write_bytes(b"x" * 100)
    index = panning.HNSWIndex(4)
    index.add(np.ones((3, 4), np.float32))
    index.save(tmp_path / "i.pnidx")
    assert not dead.exists()
    assert alive.exists() and other_host.exists() and not_ours.exists()
    assert len(panning.HNSWIndex.load(tmp_path / "i.pnidx")) == 3


def test_save_into_missing_folder(tmp_path):
    index = panning.HNSWIndex(4)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        index.save(tmp_path / "no" / "such" / "i.pnidx")


# ---- sessions ----------------------------------------------------------------------------------
def _x():
    return np.random.default_rng(3).normal(size=(200, 8)).astype(np.float32)


@pytest.mark.parametrize("name", ["a?b.db", "100%.db", "x#y.db", "sp ace;&'\".db", "ü.db"])
def test_session_paths_with_any_legal_characters(tmp_path, name):
    path = tmp_path / name
    s = panning.Seals(_x(), k=5, path=path)
    s.teach([0, 1, 2], [1, 0, 0])
    s.close()
    r = panning.Seals.resume(path, _x())
    assert r.n_labeled == 3
    r.close()


def test_session_in_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        panning.Seals(_x(), k=5, path=tmp_path / "missing" / "s.db")


def test_one_writer_per_session_file(tmp_path):
    path = tmp_path / "s.db"
    s = panning.Seals(_x(), k=5, path=path)
    s.teach([0, 1], [1, 0])
    with pytest.raises(SessionInUseError, match="already open for writing"):
        panning.Seals.resume(path, _x())
    s.close()
    r = panning.Seals.resume(path, _x())  # free again once closed
    with pytest.raises(SessionInUseError):
        panning.Seals.resume(path, _x())
    r.teach([5], [0])
    r.close()
    assert panning.Seals.resume(path, _x()).n_labeled == 3


def _create(args):
    path, barrier = args
    import panning as p

    barrier.wait()
    try:
        s = p.Seals(np.random.default_rng(3).normal(size=(200, 8)).astype(np.float32), k=5,
                    path=path)  # fmt: skip
        s.close()
        return "owner"
    except FileExistsError:
        return "exists"


@pytest.mark.slow
def test_concurrent_create_has_exactly_one_owner(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        for trial in range(5):
            path = str(tmp_path / f"s{trial}.db")
            barrier = manager.Barrier(2)
            with ctx.Pool(2) as pool:
                results = pool.map(_create, [(path, barrier)] * 2)
            assert sorted(results) == ["exists", "owner"], results
            assert panning.Seals.resume(path, _x()).n_labeled == 0


@pytest.mark.parametrize(
    "ids, labels, error",
    [
        ([1], np.array([2**64 - 1], np.uint64), ValueError),
        ([1], None, TypeError),
        ([1], 1, TypeError),
        ([1], "1", TypeError),
        ([1, 2, 3], "yes", TypeError),
        ([1], ["yes"], TypeError),
        ([1], [1.5], TypeError),
        (None, [1], TypeError),
        ("abc", [1, 2, 3], TypeError),
        (1, [1], ValueError),
        (np.array([2**64 - 1], np.uint64), [1], ValueError),
        ([1.0], [1], TypeError),
        ([True], [1], TypeError),
        ([[1]], [1], ValueError),
    ],
)
def test_teach_refuses_bad_ids_and_labels_before_writing(tmp_path, ids, labels, error):
    path = tmp_path / "s.db"
    s = panning.Seals(_x(), k=5, path=path)
    with pytest.raises(error):
        s.teach(ids, labels)
    assert s.n_labeled == 0
    s.close()
    assert panning.Seals.resume(path, _x()).n_labeled == 0


def test_foreign_index_ids_are_named(tmp_path):
    x = _x()
    foreign = panning.FlatIndex(8)
    foreign.add(x, ids=np.arange(200) + 1000)  # the right vectors under other ids
    s = panning.Seals(x, k=5, neighbors=foreign)
    with pytest.raises(ValueError, match="FlatIndex returned id 10"):
        s.teach([0, 1], [1, 0])
    assert s.n_labeled == 0  # refused before anything was recorded
    bad_graph = np.full((200, 5), 7)
    bad_graph[3, 2] = -9
    with pytest.raises(ValueError, match="outside"):
        panning.Seals(x, k=5, neighbors=bad_graph)


def test_read_only_resume_while_a_writer_holds_the_file(tmp_path):
    path = tmp_path / "s.db"
    writer = panning.Seals(_x(), k=5, path=path)
    writer.teach([0, 1, 2], [1, 0, 0])
    reader = panning.Seals.resume(path, _x(), read_only=True)  # no lock taken
    assert reader.n_labeled == 3
    reader.query(2)
    with pytest.raises(SessionInUseError, match="read-only"):
        reader.teach([7], [0])
    reader.close()
    writer.teach([9], [0])
    writer.close()
    assert panning.Seals.resume(path, _x()).n_labeled == 4
