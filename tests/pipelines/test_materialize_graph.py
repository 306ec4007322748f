"""The materialize graph as Beam's runner cuts it into stages, and the duplicate-id check's passes.

What crosses a stage boundary is stored by the runner (Beam's local runner: in the launcher's memory;
Dataflow: in its shuffle), so a chunk must be read, augmented, labelled and written in one stage."""

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

from kdaug.core.corpus import ColumnSpec, plan_read_units
from kdaug.core.counts import RunCounts
from kdaug.core.dataset import DatasetDir
from kdaug.core.recipe import Recipe
from kdaug.pipelines import transforms as T
from kdaug.pipelines.materialize import JobFailedError, build, prepare
from tests.conftest import write_jsonl


def stages_of(recipe: Recipe) -> list[set[str]]:
    """The transforms of each stage the local runner runs (after fusion)."""
    pipeline = beam.Pipeline(options=PipelineOptions(["--runner=DirectRunner"]))
    build(pipeline, prepare(recipe), processes=2)
    _, stages = FnApiRunner().create_stages(pipeline.to_runner_api())
    return [{t.unique_name for t in stage.transforms} for stage in stages]


@pytest.mark.parametrize("id_column", ["id", None])
def test_a_chunk_is_read_augmented_labelled_and_written_in_one_stage(tmp_path, mr_rows, tiny_teacher, id_column):
    corpus = write_jsonl(tmp_path / "c.jsonl", mr_rows[:20])
    recipe = Recipe(
        input=str(corpus),
        output=str(tmp_path / "out"),
        teacher=str(tiny_teacher),
        augment=["synonym:ratio=0.3,copies=2,context=none"],
        id_column=id_column,
    )
    stages = stages_of(recipe)
    reading = [s for s in stages if any(name.startswith("ReadAndValidate") for name in s)]
    assert len(reading) == 1, "the corpus's records are read in one place"
    fused = reading[0]
    assert "Augment" in fused
    assert any(name.startswith("LabelAndWrite/LabelWithTeacher") for name in fused)
    assert any(name.startswith("LabelAndWrite/WriteParquet") for name in fused)


def test_repeated_digests_are_found_within_a_unit_and_across_units():
    a, b, c, d = (T.id_digest(i) for i in ("a", "b", "c", "d"))
    packs = [b"".join(sorted([a, b, b])), b"".join(sorted([c, a])), d]
    assert T.repeated_digests((0, packs)) == sorted([a, b])
    assert T.repeated_digests((0, [a + b, c + d])) == []


def test_id_digests_are_packed_per_bucket_and_the_second_pass_reads_only_repeats(tmp_path):
    rows = [{"id": f"r{i}", "text": f"text {i}", "label": 0} for i in range(200)]
    rows += [{"id": "r7", "text": "again", "label": 1}, {"id": 5, "text": "int id", "label": 0}]
    rows += [{"id": "", "text": "no id", "label": 0}]  # invalid: the read step dead-letters it
    units = list(enumerate(plan_read_units(str(write_jsonl(tmp_path / "c.jsonl", rows)))))
    columns = ColumnSpec("text", None, "label", "id")
    packs = [kv for unit in units for kv in T.ReadIdDigestsFn(columns).process(unit, {})]
    assert all(len(pack) % T.ID_DIGEST_BYTES == 0 and bucket < T.ID_BUCKETS for bucket, pack in packs)
    assert sum(len(pack) for _, pack in packs) == T.ID_DIGEST_BYTES * 202  # the valid ids, 16 bytes each
    grouped: dict[int, list[bytes]] = {}
    for bucket, pack in packs:
        grouped.setdefault(bucket, []).append(pack)
    repeated = [d for item in grouped.items() for d in T.repeated_digests(item)]
    assert repeated == [T.id_digest("r7")]
    second = [kv for unit in units for kv in T.ReadRepeatedIdsFn(columns).process(unit, {}, repeated)]
    assert [example_id for example_id, _ in second] == ["r7", "r7"]
    assert list(T.first_of_duplicated_id(("r7", [p for _, p in second][::-1]))) == [second[0]]
    assert list(T.ReadRepeatedIdsFn(columns).process(units[0], {}, [])) == []


def test_every_unit_and_chunk_must_be_accounted_for_before_a_commit():
    split = "train"
    whole = RunCounts(
        unit_chunks={"0": 2, "1": 1},
        data_files=frozenset(T.data_file_name(split, T.chunk_key(u, c)) for u, c in [(0, 0), (0, 1), (1, 0)]),
    )
    assert T.unaccounted_chunks(2, whole, split) == []
    assert T.unaccounted_chunks(3, whole, split) == ["unit 2 was never read"]
    lost = RunCounts(unit_chunks={"0": 2, "1": 1}, data_files=frozenset([T.data_file_name(split, "00000-00000")]))
    assert T.unaccounted_chunks(2, lost, split) == [
        "chunk 00000-00001 has no data file",
        "chunk 00001-00000 has no data file",
    ]
    failed = lost + RunCounts(chunks_failed=frozenset(["00000-00001", "00001-00000"]))  # dead-lettered: accounted
    assert T.unaccounted_chunks(2, failed, split) == []
    twice = whole + RunCounts(unit_chunks={"1": 1})  # a unit read twice reports chunks it does not have
    assert T.unaccounted_chunks(2, twice, split) == ["chunk 00001-00001 has no data file"]


def test_a_job_that_loses_a_chunk_commits_nothing_and_its_rerun_finishes(tmp_path, mr_rows, materialize, monkeypatch):
    """A runner that drops a chunk between steps (as Beam's local runner once did) is simulated by a
    writer that drops one; the job fails before committing, and the same job run again completes."""
    corpus = write_jsonl(tmp_path / "c.jsonl", [dict(r, id=f"r{i}") for i, r in enumerate(mr_rows[:60])])
    out = tmp_path / "out"
    kw = dict(augment=["synonym:ratio=0.3,copies=1,context=none"], id_column="id", chunk_size=20)
    write = T.WriteChunkFn.process

    def drop_the_second_chunk(self, item):
        if item[0].key != "00000-00001":
            yield from write(self, item)

    monkeypatch.setattr(T.WriteChunkFn, "process", drop_the_second_chunk)
    with pytest.raises(JobFailedError, match="lost work"):
        materialize(corpus, out, **kw)
    assert DatasetDir(str(out)).read_manifest() is None and DatasetDir(str(out)).staged_chunk_count("train") == 2
    monkeypatch.setattr(T.WriteChunkFn, "process", write)
    manifest, rows = materialize(corpus, out, **kw)
    entry = manifest["splits"]["train"]
    assert entry["chunks"] == {"written": 1, "reused": 2} and entry["records_written"] == 60
    assert len({r["source_id"] for r in rows}) == 60
