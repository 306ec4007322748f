import json
import shutil

import pytest

from kdaug.cli import main as kdaug


class RecordingHub:
    """Stands in for huggingface_hub.HfApi: records the calls an upload makes."""

    calls: list = []

    def __init__(self, *a, **kw):
        RecordingHub.calls.append(("init", kw))

    def create_repo(self, repo_id, **kw):
        RecordingHub.calls.append(("create_repo", repo_id, kw))

    def create_branch(self, repo_id, **kw):
        RecordingHub.calls.append(("create_branch", repo_id, kw))

    def upload_folder(self, **kw):
        RecordingHub.calls.append(("upload_folder", kw))
        return type("Commit", (), {"commit_url": "https://hub.example/commit/1"})()


class NoNetwork:
    def __init__(self, *a, **kw):
        raise AssertionError("--dry-run must not touch the Hub")


def test_dry_run_verifies_lists_the_files_and_prints_the_card_without_network(published_dataset, monkeypatch, capsys):
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub, "HfApi", NoNetwork)
    assert kdaug(["publish", str(published_dataset), "--repo-id", "org/tiny-mr", "--dry-run"]) == 0
    out = capsys.readouterr().out
    manifest = json.loads((published_dataset / "manifest.json").read_text())
    for f in (f["path"] for e in manifest["splits"].values() for f in e["files"]):
        assert f in out
    for name in ("manifest.json", "README.md", "croissant.json"):
        assert f"  {name}  (" in out
    assert "https://huggingface.co/datasets/org/tiny-mr" in out
    assert "license: cc-by-4.0" in out and "--dry-run: nothing was uploaded" in out


def test_publish_uploads_one_commit_with_the_card_and_croissant(published_dataset, tmp_path, monkeypatch, capsys):
    import huggingface_hub

    ds = shutil.copytree(published_dataset, tmp_path / "ds")
    (ds / ".kdaug").mkdir()
    (ds / ".kdaug" / "leftover").write_text("staging is never uploaded")
    RecordingHub.calls = []
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingHub)
    argv = ["publish", str(ds), "--repo-id", "org/tiny-mr", "--private", "--revision", "v1"]
    assert kdaug(argv) == 0
    names = [c[0] for c in RecordingHub.calls]
    assert names == ["init", "create_repo", "create_branch", "upload_folder"]
    assert RecordingHub.calls[1][2] == {"repo_type": "dataset", "private": True, "exist_ok": True}
    upload = RecordingHub.calls[3][1]
    assert upload["repo_type"] == "dataset" and upload["revision"] == "v1" and upload["folder_path"] == str(ds)
    assert {"README.md", "croissant.json", "manifest.json"} <= set(upload["allow_patterns"])
    assert not any(".kdaug" in p for p in upload["allow_patterns"])
    assert "published: https://hub.example/commit/1" in capsys.readouterr().out


def test_a_damaged_dataset_is_not_published(published_dataset, tmp_path, monkeypatch, capsys):
    import huggingface_hub

    ds = shutil.copytree(published_dataset, tmp_path / "ds")
    (ds / "README.md").write_text("edited")  # the card is not checksummed, the data is:
    name = json.loads((ds / "manifest.json").read_text())["splits"]["validation"]["data_files"][0]
    (ds / name).write_bytes((ds / name).read_bytes()[:-1])
    monkeypatch.setattr(huggingface_hub, "HfApi", NoNetwork)
    assert kdaug(["publish", str(ds), "--repo-id", "org/x"]) == 1
    err = capsys.readouterr().err
    assert name in err and "nothing was uploaded" in err


def test_a_bad_repo_id_fails_before_any_work(published_dataset, capsys):
    with pytest.raises(SystemExit) as exit_:
        kdaug(["publish", str(published_dataset), "--repo-id", "no-slash"])
    assert exit_.value.code == 2 and "must be ORG/NAME" in capsys.readouterr().err
