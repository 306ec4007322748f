import json
import re
import shutil
import subprocess

import pyarrow.parquet as pq
import pytest

from kdaug.cli import main as kdaug
from kdaug.core.publishing.report import highlight, render, write_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a closed network and a root user (see the machine notes): no sandbox, no background fetches.
HEADLESS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def browser(tmp_path, *args):
    assert CHROMIUM, "Chromium is needed for the report's browser test: scripts/setup.sh installs it (apt chromium)"
    out = subprocess.run(
        [CHROMIUM, *HEADLESS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def test_highlight_marks_exactly_the_changed_words_and_escapes_html():
    before, after = highlight("a <b> good film & fine", "a <b> great movie & fine")
    assert before == "a &lt;b&gt; <del>good</del> <del>film</del> &amp; fine"
    assert after == "a &lt;b&gt; <mark>great</mark> <mark>movie</mark> &amp; fine"
    assert highlight("Same words", "same words") == ("Same words", "same words")  # casing is no change


def rows_of(ds, split="train"):
    manifest = json.loads((ds / "manifest.json").read_text())
    return [r for f in manifest["splits"][split]["data_files"] for r in pq.read_table(ds / f).to_pylist()]


def test_the_report_counts_label_flips_per_method_and_is_deterministic(published_dataset, tmp_path):
    ds = shutil.copytree(published_dataset, tmp_path / "ds")
    # Flip the teacher's prediction on two copies and make them the most drifted: the flip share has
    # something to count, and the drifted table must show them.
    name = json.loads((ds / "manifest.json").read_text())["splits"]["train"]["data_files"][0]
    table = pq.read_table(ds / name)
    rows = table.to_pylist()
    copies = [i for i, r in enumerate(rows) if r["aug_method"] != "original"][:2]
    for i in copies:
        rows[i]["teacher_pred"] = 1 - rows[i]["teacher_pred"]
        rows[i]["teacher_kl_to_source"] = 5.0
    pq.write_table(type(table).from_pylist(rows, schema=table.schema), ds / name)
    by_id = {r["id"]: r for r in rows}
    flips = sum(
        by_id[r["source_id"]]["teacher_pred"] != r["teacher_pred"] for r in rows if r["aug_method"] != "original"
    )
    n = sum(r["aug_method"] == "synonym" for r in rows)
    page = render(str(ds))
    assert flips >= 2 and f"({flips} of {n})" in page
    assert page == render(str(ds))  # the same sample every time
    drifted = page.split('data-kind="drifted"')[1].split("</table>")[0]
    assert drifted.count('class="flip"') == 2 and drifted.count("<td>5.0000</td>") == 2


def test_the_report_is_self_contained_and_shows_the_dead_letters(published_dataset, tmp_path):
    page = render(str(published_dataset))
    assert not re.search(r"""(src|href)=["']https?://""", page)  # no network needed to open it
    assert page.count("data:image/png;base64,") == 2  # one figure per split
    assert "Dead letters" in page and "read: " in page  # the unreadable record, grouped by stage
    assert "<td>synonym</td>" in page and "<mark>" in page


def test_the_report_renders_in_headless_chromium(published_dataset, tmp_path):
    out = tmp_path / "report.html"
    assert kdaug(["report", str(published_dataset), "--output", str(out)]) == 0
    dom = browser(tmp_path, "--dump-dom", out.as_uri())
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert 'data-plots="2"' in body and 'data-plots-rendered="2"' in body  # the browser decoded both plots
    assert dom.count("<mark>") >= 10 and dom.count('<table class="diff"') == 4
    shot = tmp_path / "shot.png"
    browser(tmp_path, "--window-size=1300,1600", f"--screenshot={shot}", out.as_uri())
    from PIL import Image

    pixels = list(Image.open(shot).convert("RGB").getdata())
    ink = sum(1 for p in pixels if sum(p) < 600) / len(pixels)
    highlighted = sum(1 for r, g, b in pixels if r > 240 and 210 < g < 235 and b < 130)  # <mark>'s yellow
    assert ink > 0.02 and highlighted > 500, (ink, highlighted)


def test_report_writes_into_the_dataset_by_default_and_refuses_a_non_dataset(published_dataset, tmp_path, capsys):
    ds = shutil.copytree(published_dataset, tmp_path / "ds")
    assert write_report(str(ds)) == str(ds / "report.html") and (ds / "report.html").is_file()
    assert kdaug(["report", str(tmp_path / "nothing")]) == 2
    assert "not a materialized dataset" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--examples=0"])
def test_report_rejects_bad_flags(published_dataset, flag):
    with pytest.raises(SystemExit):
        kdaug(["report", str(published_dataset), flag])
