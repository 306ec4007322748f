import json

import pytest

from kdaug_core.cli import main as kdaug


@pytest.mark.real_assets
def test_demo_runs_on_real_minilm_and_mr(tmp_path, capsys):
    out = tmp_path / "demo"
    assert kdaug(["demo", "--output", str(out), "--limit", "40", "--runner=DirectRunner"]) == 0
    printed = capsys.readouterr().out
    assert "NOT been fine-tuned" in printed and "Wrote" in printed
    manifest = json.loads((out / "manifest.json").read_text())
    split = manifest["splits"]["train"]
    assert split["records_read"] == 40 and split["reconciles"]
    assert split["teacher"]["label_names"] == ["negative", "positive"]
    assert 0.25 <= split["mean_changed_ratio"]["synonym"] <= 0.35
    assert "NOT been fine-tuned" in (out / "README.md").read_text()
