import json
import shutil

import pytest

from kdaug.cli import main as kdaug
from kdaug.core.publishing.verify import verify


@pytest.fixture
def dataset(published_dataset, tmp_path):
    """A copy of the published dataset, to damage."""
    return shutil.copytree(published_dataset, tmp_path / "ds")


def manifest_of(ds):
    return json.loads((ds / "manifest.json").read_text())


def test_a_dataset_as_written_verifies(published_dataset, capsys):
    assert verify(str(published_dataset)) == []
    assert kdaug(["verify", str(published_dataset)]) == 0
    assert "OK (2 split(s)" in capsys.readouterr().out
    entry = manifest_of(published_dataset)["splits"]["train"]
    assert entry["records_dead_lettered"] == 1 and len(entry["files"]) == len(entry["data_files"]) + 1


def test_one_changed_byte_is_caught_by_name(dataset, capsys):
    name = manifest_of(dataset)["splits"]["train"]["data_files"][0]
    data = bytearray((dataset / name).read_bytes())
    data[len(data) // 2] ^= 0x01  # same size: only the checksum can tell
    (dataset / name).write_bytes(bytes(data))
    problems = verify(str(dataset))
    assert any(name in p and "sha256" in p and "changed after it was written" in p for p in problems), problems
    assert kdaug(["verify", str(dataset)]) == 1
    assert name in capsys.readouterr().err


def test_a_missing_file_an_extra_file_and_a_lost_dead_letter_are_each_named(dataset):
    entry = manifest_of(dataset)["splits"]["train"]
    (dataset / entry["data_files"][0]).unlink()
    shutil.copy(
        dataset / manifest_of(dataset)["splits"]["validation"]["data_files"][0], dataset / "data" / "train-x.parquet"
    )
    dead = dataset / entry["dead_letter_files"][0]
    dead.write_text("")
    problems = "\n".join(verify(str(dataset)))
    assert f"{entry['data_files'][0]} is missing" in problems
    assert "data/train-x.parquet is not in the manifest" in problems
    assert "0 dead letters in dead_letter/, the manifest counts 1" in problems
    assert f"{entry['dead_letter_files'][0]} has 0 bytes" in problems


def test_row_counts_and_reconciliation_are_checked_against_the_manifest(dataset):
    manifest = manifest_of(dataset)
    manifest["splits"]["validation"]["rows_written"] += 1
    manifest["splits"]["validation"]["records_read"] += 2
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    problems = "\n".join(verify(str(dataset)))
    assert "split 'validation': 10 rows in the data files, the manifest says 11" in problems
    assert "counts do not reconcile: 12 records read != 10 written + 0 dead-lettered" in problems


def test_an_incomplete_split_and_a_missing_card_are_problems(dataset):
    manifest = manifest_of(dataset)
    manifest["splits"]["validation"]["state"] = "committing"
    (dataset / "manifest.json").write_text(json.dumps(manifest))
    (dataset / "croissant.json").unlink()
    problems = "\n".join(verify(str(dataset)))
    assert "split 'validation' is incomplete" in problems and "croissant.json is missing" in problems


def test_not_a_dataset(tmp_path):
    assert "no manifest.json" in verify(str(tmp_path))[0]
