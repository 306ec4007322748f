"""`kdaug verify DIR` and `kdaug publish DIR --repo-id ORG/NAME`: check a dataset against its manifest, then
upload it to the Hugging Face Hub as one commit (card and croissant.json included).

Publishing always verifies first: a dataset whose files do not match their checksums is not uploaded.
`--dry-run` stops after printing what would be uploaded and the card, and touches no network. The token
comes from the usual Hugging Face environment (HF_TOKEN, or `huggingface-cli login`).
"""

from __future__ import annotations

import argparse
import re
import sys

from kdaug.core.dataset import CARD, CROISSANT, MANIFEST, DatasetDir
from kdaug.core.verify import verify

REPORT = "report.html"
REPO_ID_RE = r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$"


def verify_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="kdaug verify",
        description="Check a materialized dataset against its manifest: checksums, row counts, schema, counts.",
    )
    p.add_argument("dataset", metavar="DIR", help="the dataset directory (or gs://, s3:// URL)")
    args = p.parse_args(argv)
    problems = verify(args.dataset)
    for problem in problems:
        print(f"kdaug verify: {args.dataset}: {problem}", file=sys.stderr)
    if problems:
        return 1
    manifest = DatasetDir(args.dataset).read_manifest() or {}
    files = sum(len(e.get("files", [])) for e in manifest.get("splits", {}).values())
    rows = sum(e.get("rows_written", 0) for e in manifest.get("splits", {}).values())
    print(f"{args.dataset}: OK ({len(manifest.get('splits', {}))} split(s), {rows} rows, {files} files checked)")
    return 0


def upload_list(url: str) -> list[str]:
    """What publishing uploads, relative to the dataset directory: every file the manifest lists, the
    manifest, the card, croissant.json, and report.html when there is one. Never the staging area."""
    ds = DatasetDir(url)
    manifest = ds.read_manifest() or {}
    files = [f["path"] for e in manifest.get("splits", {}).values() for f in e.get("files", [])]
    extra = [name for name in (MANIFEST, CARD, CROISSANT, REPORT) if ds.fs.exists(ds.path(name))]
    return sorted(files) + extra


def publish_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(
        prog="kdaug publish",
        description="Verify a dataset and upload it to the Hugging Face Hub as one commit.",
    )
    p.add_argument("dataset", metavar="DIR", help="the dataset directory")
    p.add_argument("--repo-id", required=True, metavar="ORG/NAME", help="the Hub dataset repository")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--revision", help="branch to commit to (created if missing; default main)")
    p.add_argument("--commit-message", help="default: 'Upload kdaug dataset'")
    p.add_argument("--dry-run", action="store_true", help="verify and show what would be uploaded; no network")
    args = p.parse_args(argv)
    if not re.match(REPO_ID_RE, args.repo_id):
        p.error(f"--repo-id {args.repo_id!r} must be ORG/NAME (letters, digits, '.', '_', '-')")
    problems = verify(args.dataset)
    for problem in problems:
        print(f"kdaug publish: {args.dataset}: {problem}", file=sys.stderr)
    if problems:
        print("kdaug publish: error: the dataset does not verify; nothing was uploaded", file=sys.stderr)
        return 1
    files = upload_list(args.dataset)
    ds = DatasetDir(args.dataset)
    sizes = {name: ds.fs.size(ds.path(name)) for name in files}
    where = f"https://huggingface.co/datasets/{args.repo_id}" + (f" (branch {args.revision})" if args.revision else "")
    print(f"{'would upload' if args.dry_run else 'uploading'} {len(files)} files to {where}:")
    for name in files:
        print(f"  {name}  ({sizes[name]:,} bytes)")
    print(f"  total {sum(sizes.values()):,} bytes; {'private' if args.private else 'public'} dataset repository")
    if args.dry_run:
        print("\n--- README.md (the dataset card) ---\n")
        print(ds.fs.cat_file(ds.path(CARD)).decode("utf-8"))
        print("--dry-run: nothing was uploaded")
        return 0
    return upload(args, files)


def upload(args: argparse.Namespace, files: list[str]) -> int:
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        api.create_repo(args.repo_id, repo_type="dataset", private=args.private, exist_ok=True)
        if args.revision:
            api.create_branch(args.repo_id, repo_type="dataset", branch=args.revision, exist_ok=True)
        info = api.upload_folder(
            folder_path=args.dataset,
            repo_id=args.repo_id,
            repo_type="dataset",
            revision=args.revision,
            allow_patterns=files,
            commit_message=args.commit_message or "Upload kdaug dataset",
        )
    except Exception as err:  # HTTP, network, auth: the Hub says why
        print(f"kdaug publish: error: the upload to {args.repo_id!r} failed: {err}", file=sys.stderr)
        return 1
    print(f"published: {getattr(info, 'commit_url', info)}")
    return 0
