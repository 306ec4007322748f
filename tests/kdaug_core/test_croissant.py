import json
import subprocess
import sys


def test_croissant_json_validates_and_mlcroissant_reads_every_record(published_dataset):
    import mlcroissant as mlc

    path = published_dataset / "croissant.json"
    meta = json.loads(path.read_text())
    manifest = json.loads((published_dataset / "manifest.json").read_text())
    dataset = mlc.Dataset(jsonld=str(path))  # raises on a validation error
    assert not dataset.metadata.ctx.issues.errors
    assert not dataset.metadata.ctx.issues.warnings
    for split, entry in manifest["splits"].items():
        records = list(dataset.records(record_set=split))
        assert len(records) == entry["rows_written"]
        methods = {r[f"{split}/aug_method"].decode() for r in records}
        assert methods == {m for m, n in entry["rows_per_method"].items() if n}
    assert meta["license"] != "unknown" and "cc-by-4.0" in meta["license"]
    assert meta["isBasedOn"] == ["cornell-movie-review-data/rotten_tomatoes"]
    assert "kdaug materialize --split train" in meta["rai:dataCollection"]


def test_croissant_lists_every_file_with_the_manifests_sha256(published_dataset):
    meta = json.loads((published_dataset / "croissant.json").read_text())
    manifest = json.loads((published_dataset / "manifest.json").read_text())
    listed = {d["contentUrl"]: d["sha256"] for d in meta["distribution"] if d["@type"] == "cr:FileObject"}
    files = {f["path"]: f["sha256"] for e in manifest["splits"].values() for f in e["files"]}
    assert listed == files and any(p.startswith("dead_letter/") for p in files)


def test_the_mlcroissant_command_line_validates_it(published_dataset):
    out = subprocess.run(
        [sys.executable, "-m", "mlcroissant.scripts.validate", "--jsonld", str(published_dataset / "croissant.json")],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "error" not in (out.stdout + out.stderr).lower() and "not standard" not in out.stderr
