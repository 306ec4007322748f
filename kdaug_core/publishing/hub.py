"""Uploading a dataset to the Hugging Face Hub as one commit (card and croissant.json included): what
goes up, and the upload. `kdaug publish` (kdaug/dataset_commands.py) verifies the dataset first. The token
comes from the usual Hugging Face environment (HF_TOKEN, or `huggingface-cli login`)."""

from __future__ import annotations

from kdaug.core.dataset import CARD, CROISSANT, MANIFEST, DatasetDir
from kdaug.core.publishing.report import REPORT

REPO_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$"


def upload_list(url: str) -> list[str]:
    """What publishing uploads, relative to the dataset directory: every file the manifest lists, the
    manifest, the card, croissant.json, and report.html when there is one. Never the staging area."""
    ds = DatasetDir(url)
    manifest = ds.read_manifest() or {}
    files = [f["path"] for e in manifest.get("splits", {}).values() for f in e.get("files", [])]
    extra = [name for name in (MANIFEST, CARD, CROISSANT, REPORT) if ds.fs.exists(ds.path(name))]
    return sorted(files) + extra


def upload(
    dataset: str, repo_id: str, files: list[str], private: bool, revision: str | None, commit_message: str | None
) -> str:
    """Uploads `files` of `dataset` to the dataset repository `repo_id` (created if missing; `revision`, a
    branch, too) as one commit; returns the commit's URL. Raises whatever the Hub raises (HTTP, auth)."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision:
        api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
    info = api.upload_folder(
        folder_path=dataset,
        repo_id=repo_id,
        repo_type="dataset",
        revision=revision,
        allow_patterns=files,
        commit_message=commit_message or "Upload kdaug dataset",
    )
    return str(getattr(info, "commit_url", info))
