"""The commit protocol of a dataset directory, on a local disk (directory swaps) and on fsspec's memory
filesystem (an object store: no directory renames). Whatever step a commit is cut short at, a reader sees
the last complete state of the split or an error naming what is incomplete, never a mix; committing
again finishes it."""

import hashlib
import json
import uuid

import fsspec
import pytest

from kdaug.core.corpus import RawRecord
from kdaug.core.dataset import (
    STAGING,
    DatasetDir,
    IncompleteDatasetError,
    OutputNotWritableError,
    chunk_fingerprint,
)
from kdaug.core.publishing.manifest import merge_manifest


def card(manifest: dict) -> dict[str, str]:
    done = {s: e["data_files"] for s, e in manifest["splits"].items() if e["state"] == "complete"}
    return {"README.md": json.dumps(done, sort_keys=True)}


def stage_run(ds: DatasetDir, split: str, tag: str, chunks: int) -> list[str]:
    names = []
    for c in range(chunks):
        name = f"{split}-00000-{c:05d}.parquet"
        ds.stage_chunk(split, f"00000-{c:05d}", name, f"{tag}:{c}".encode(), {"fingerprint": f"{tag}{c}"})
        names.append(name)
    ds.stage_dead_letters(split, f"{split}-00000-of-00001.jsonl", f"{tag} dead".encode())
    return names


def commit(ds: DatasetDir, split: str, tag: str, names: list[str]):
    entry = {
        "tag": tag,
        "data_files": [f"data/{n}" for n in names],
        "dead_letter_files": [f"dead_letter/{split}-00000-of-00001.jsonl"],
    }
    return ds.commit(split, entry, names, [f"{split}-00000-of-00001.jsonl"], merge_manifest, card)


def what_readers_see(ds: DatasetDir, split: str):
    """(what kdaug reads: the committed files' contents or an error), the data/ directory's split files."""
    try:
        seen = sorted(ds.fs.cat_file(f).decode() for f in ds.committed_files(split))
    except IncompleteDatasetError as err:
        seen = f"incomplete: {err}"
    listed = sorted(ds.fs.cat_file(f).decode() for f in ds.fs.glob(ds.path("data", f"{split}-*")))
    return seen, listed


@pytest.fixture(params=["local", "memory"])
def dataset(request, tmp_path) -> DatasetDir:
    url = str(tmp_path / "ds") if request.param == "local" else f"memory://kdaug-test-{uuid.uuid4().hex}/ds"
    return DatasetDir(url)


def test_a_staged_run_is_invisible_until_it_commits(dataset):
    old = stage_run(dataset, "train", "old", 3)
    commit(dataset, "train", "old", old)
    other = stage_run(dataset, "test", "other", 1)
    commit(dataset, "test", "other", other)
    assert what_readers_see(dataset, "train") == (["old:0", "old:1", "old:2"],) * 2
    assert not dataset.fs.exists(dataset.path(STAGING))  # nothing left behind

    new = stage_run(dataset, "train", "new", 2)  # another seed, fewer chunks: still being made
    assert what_readers_see(dataset, "train") == (["old:0", "old:1", "old:2"],) * 2
    manifest = commit(dataset, "train", "new", new)
    assert what_readers_see(dataset, "train") == (["new:0", "new:1"],) * 2
    assert what_readers_see(dataset, "test") == (["other:0"],) * 2  # the other split is untouched
    assert manifest["splits"]["train"]["state"] == "complete" and manifest["splits"]["train"]["tag"] == "new"
    assert json.loads(dataset.fs.cat_file(dataset.path("README.md")))["train"] == [f"data/{n}" for n in new]
    assert dataset.fs.cat_file(dataset.path("dead_letter", "train-00000-of-00001.jsonl")) == b"new dead"
    # every committed file is in the manifest with its size and sha256, as read back from where it lies
    files = manifest["splits"]["train"]["files"]
    assert [f["path"] for f in files] == [f"data/{n}" for n in new] + ["dead_letter/train-00000-of-00001.jsonl"]
    for f in files:
        content = dataset.fs.cat_file(dataset.path(f["path"]))
        assert f["bytes"] == len(content) and f["sha256"] == hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize("cut_at", ["after_marking", "promoting", "before_complete"])
def test_a_commit_cut_short_leaves_old_or_incomplete_never_a_mix(dataset, monkeypatch, cut_at):
    commit(dataset, "train", "old", stage_run(dataset, "train", "old", 3))
    new = stage_run(dataset, "train", "new", 3)

    class Killed(Exception):
        pass

    if cut_at == "after_marking":  # the split is marked committing; nothing promoted yet

        def refuse(*args, **kw):
            raise Killed

        monkeypatch.setattr(DatasetDir, "_swap_in", refuse)
        monkeypatch.setattr(DatasetDir, "_copy_in", refuse)
    elif cut_at == "promoting" and dataset.local:  # between the two renames of the directory swap
        import os

        real_replace = os.replace

        def cut_replace(src, dst):
            real_replace(src, dst)
            if src.endswith("/data") and dst.endswith("/old-data"):
                raise Killed  # data/ is missing for an instant

        monkeypatch.setattr(os, "replace", cut_replace)
    elif cut_at == "promoting":  # an object store: after the first file is copied in
        real_copy = dataset.fs.copy

        def cut_copy(*args, **kw):
            real_copy(*args, **kw)
            raise Killed

        monkeypatch.setattr(dataset.fs, "copy", cut_copy)
    else:  # every file is in place; the manifest still says committing
        publish, published = DatasetDir._publish, []

        def cut_publish(self, manifest, render):
            published.append(manifest)
            if len(published) == 2:
                raise Killed
            return publish(self, manifest, render)

        monkeypatch.setattr(DatasetDir, "_publish", cut_publish)
    with pytest.raises(Killed):
        commit(dataset, "train", "new", new)
    kdaug_sees, directory = what_readers_see(dataset, "train")
    assert kdaug_sees == ["old:0", "old:1", "old:2"] or kdaug_sees.startswith("incomplete: split 'train'")
    if dataset.local:  # a glob sees the old files, nothing, or the new ones
        assert directory in (["old:0", "old:1", "old:2"], [], ["new:0", "new:1", "new:2"])
    assert "train" not in json.loads(dataset.fs.cat_file(dataset.path("README.md")))  # the card leaves it out

    monkeypatch.undo()
    commit(dataset, "train", "new", new)  # the same run again: it finishes
    assert what_readers_see(dataset, "train") == (["new:0", "new:1", "new:2"],) * 2


def test_readers_name_what_is_missing(dataset):
    with pytest.raises(IncompleteDatasetError, match="not a materialized dataset"):
        dataset.committed_files("train")
    stage_run(dataset, "train", "first", 2)  # a first run, killed before it committed
    with pytest.raises(IncompleteDatasetError, match="first materialize run did not finish"):
        dataset.committed_files("train")
    names = stage_run(dataset, "train", "first", 2)
    commit(dataset, "train", "first", names)
    dataset.fs.rm(dataset.path("data", names[1]))
    with pytest.raises(IncompleteDatasetError, match=f"1 of its 2 data files are missing \\({names[1]}\\)"):
        dataset.committed_files("train")


def test_a_staged_chunk_counts_only_once_its_record_is_written(dataset):
    dataset.write(dataset.staging("train", "data", "train-00000-00000.parquet"), b"half a run")
    assert dataset.staged_chunk("train", "00000-00000") is None
    dataset.stage_chunk("train", "00000-00000", "train-00000-00000.parquet", b"x", {"fingerprint": "f"})
    assert dataset.staged_chunk("train", "00000-00000")["fingerprint"] == "f"
    dataset.fs.rm(dataset.staging("train", "data", "train-00000-00000.parquet"))
    assert dataset.staged_chunk("train", "00000-00000") is None  # its file is gone: redo it


def test_an_unwritable_output_is_found_before_any_work(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputNotWritableError, match="is a file"):
        DatasetDir(str(tmp_path / "file")).check_writable("train")
    DatasetDir(str(tmp_path / "fine")).check_writable("train")  # created as needed


def test_chunk_fingerprints_follow_content_and_repeated_ids():
    recs = [RawRecord("a.jsonl:1", {"id": "x", "text": "one"}, '{"id": "x", "text": "one"}')]
    base = chunk_fingerprint("job", "00000-00000", recs, {}, "id")
    assert base == chunk_fingerprint("job", "00000-00000", list(recs), {}, "id")
    assert base != chunk_fingerprint("job2", "00000-00000", recs, {}, "id")
    assert base != chunk_fingerprint("job", "00000-00001", recs, {}, "id")
    edited = [RawRecord("a.jsonl:1", {"id": "x", "text": "two"}, '{"id": "x", "text": "two"}')]
    assert base != chunk_fingerprint("job", "00000-00000", edited, {}, "id")
    assert base != chunk_fingerprint("job", "00000-00000", recs, {"x": "b.jsonl:4"}, "id")  # now a repeat
    assert base == chunk_fingerprint("job", "00000-00000", recs, {"y": "b.jsonl:4"}, "id")  # another id's
    lone = [RawRecord("a.jsonl:2", {"text": "\ud83d"}, '{"text": "\\ud83d"}')]
    assert len(chunk_fingerprint("job", "k", lone, {})) == 64


def test_memory_filesystem_is_treated_as_an_object_store():
    ds = DatasetDir("memory://kdaug-test-store/ds")
    assert not ds.local and isinstance(ds.fs, fsspec.implementations.memory.MemoryFileSystem)
