import pyarrow.parquet as pq
import pytest

from kdaug_core.schema import SchemaMismatchError
from tests.conftest import write_jsonl
from trainers.dataset import open_split


def test_trainer_reads_a_materialized_split_in_batches(tmp_path, materialize):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"text": f"a fine film {i}", "label": i % 2} for i in range(10)])
    _, rows = materialize(corpus, tmp_path / "ds", augment=["synonym:ratio=0.3,copies=1"], num_shards=2)
    split = open_split(str(tmp_path / "ds"))
    assert split.metadata.label_names == ["negative", "positive"] and split.num_rows == len(rows)
    batches = list(split.iter_batches(batch_size=4, columns=["id", "teacher_logits"]))
    assert sum(b.num_rows for b in batches) == len(rows) and max(b.num_rows for b in batches) <= 4
    assert batches[0].schema.names == ["id", "teacher_logits"]


def test_trainer_rejects_other_schemas(tmp_path, materialize):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"text": "a fine film", "label": 1}])
    materialize(corpus, tmp_path / "ds")
    with pytest.raises(SchemaMismatchError, match="no split 'validation'.*found splits: \\['train'\\]"):
        open_split(str(tmp_path / "ds"), "validation")
    f = next((tmp_path / "ds" / "data").glob("*.parquet"))
    table = pq.read_table(f)
    pq.write_table(table.drop(["teacher_entropy"]), f)
    with pytest.raises(SchemaMismatchError, match="missing column 'teacher_entropy'"):
        open_split(str(tmp_path / "ds"))
    pq.write_table(table.replace_schema_metadata({b"kdaug.schema_version": b"2"}), f)
    with pytest.raises(SchemaMismatchError, match="schema version 2"):
        open_split(str(tmp_path / "ds"))
