"""The materialize graph as Beam's runner cuts it into stages, and the duplicate-id check's passes.

What crosses a stage boundary is stored by the runner (Beam's local runner: in the launcher's memory;
Dataflow: in its shuffle), so a chunk must be read, augmented, labelled and written in one stage."""

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

from kdaug.core.corpus import ColumnSpec, plan_read_units
from kdaug.core.recipe import Recipe
from kdaug.pipelines import transforms as T
from kdaug.pipelines.materialize import build, prepare
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
