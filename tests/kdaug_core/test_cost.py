"""kdaug.core.cost: corpus counts and samples, the teacher's FLOPs, and the estimate's arithmetic."""

import pytest

from kdaug.core.augment import parse_augment_spec
from kdaug.core.corpus import ColumnSpec, LabelSpace, plan_read_units
from kdaug.core.cost import SampleCosts, count_corpus, estimate, measure_costs, teacher_flops
from kdaug.core.teacher import Teacher, TeacherSettings
from tests.conftest import write_jsonl

COLUMNS = ColumnSpec("text", None, "label", "id")
LABELS = LabelSpace({0: "negative", 1: "positive"})


@pytest.fixture
def corpus(tmp_path, mr_rows):
    rows = mr_rows[:150] + ['{"text": "broken', {"id": "e", "text": "", "label": "negative"}] + mr_rows[-150:]
    return write_jsonl(tmp_path / "c.jsonl", rows)


def test_counting_reads_every_record_and_keeps_a_uniform_reproducible_sample(corpus):
    units = plan_read_units(str(corpus))
    count = count_corpus(units, COLUMNS, LABELS, sample_size=40, seed=3)
    assert (count.sources, count.bad_records, len(count.sample)) == (300, 2, 40)
    again = count_corpus(units, COLUMNS, LABELS, sample_size=40, seed=3)
    assert [s.id for s in again.sample] == [s.id for s in count.sample]
    other = count_corpus(units, COLUMNS, LABELS, sample_size=40, seed=4)
    assert [s.id for s in other.sample] != [s.id for s in count.sample]
    labels = {s.label for s in count.sample}  # MR lists positives first: a head-of-file sample has one label
    assert len(labels) == 2
    small = count_corpus(units, COLUMNS, LABELS, sample_size=1000)
    assert len(small.sample) == 300


def test_teacher_flops_count_every_weight_but_the_embeddings_twice_per_token(tiny_teacher):
    teacher = Teacher.load(TeacherSettings(str(tiny_teacher), device="cpu"))
    net = teacher.model
    weights = sum(p.numel() for n, p in net.named_parameters() if "embeddings" not in n)
    params, flops = teacher_flops(teacher, 10)
    params2, flops2 = teacher_flops(teacher, 20)
    assert params == sum(p.numel() for p in net.parameters())
    attention = 4 * net.config.num_hidden_layers * net.config.hidden_size
    assert flops == pytest.approx(2 * weights * 10 + attention * 100)
    assert flops2 - 2 * flops == pytest.approx(attention * (400 - 200))  # linear in tokens, but attention


def test_measured_costs_scale_to_the_corpus(corpus, tiny_teacher):
    count = count_corpus(plan_read_units(str(corpus)), COLUMNS, LABELS, sample_size=32)
    spec = parse_augment_spec("synonym:ratio=0.3,copies=3,context=none")
    costs = measure_costs(count.sample, [spec], 0, TeacherSettings(str(tiny_teacher), device="cpu"))
    assert costs.sources == 32
    assert 2.5 <= costs.copies_per_source["synonym.0"] <= 3  # a few short texts make fewer
    assert costs.augment_seconds["synonym.0"] > 0 and costs.label_seconds_per_row > 0
    assert 5 < costs.tokens_per_row < 80  # MR sentences: about 27 WordPiece tokens

    assert costs.copies_asked == {"synonym.0": 3}
    e = estimate(count, costs, cores=4)
    assert e.rows == 300 + e.copies["synonym.0"]
    assert e.copies["synonym.0"] == round(300 * costs.copies_per_source["synonym.0"])
    augment_h = costs.augment_seconds["synonym.0"] * 300 / 3600
    io_h = (count.read_seconds_per_record * 302 + costs.write_seconds_per_row * e.rows) / 3600
    assert count.read_seconds_per_record > 0 and costs.write_seconds_per_row == 0  # no schema: no write measured
    assert e.core_hours() == pytest.approx(augment_h + costs.label_seconds_per_row * e.rows / 3600 + io_h)
    assert e.per_million_sources()["augment synonym.0"] == pytest.approx(augment_h * 1e6 / 300)


def test_wall_time_divides_the_work_between_cores_and_gpu_time_follows_flops():
    costs = SampleCosts(100, {"synonym.0": 0.01}, {"synonym.0": 4.0}, {"synonym.0": 3.0}, 0.002, 2.0, 30, 10**8, 1e10)
    from kdaug.core.cost import CorpusCount

    costs.write_seconds_per_row = 0.0001
    e = estimate(CorpusCount(1_000_000, 0, [], 0.00005), costs, cores=8, start_seconds=7.0)
    assert e.rows == 5_000_000
    assert e.core_hours() == pytest.approx((0.01 * 1e6 + 0.002 * 5e6 + 0.00005 * 1e6 + 0.0001 * 5e6) / 3600)
    assert e.setup_seconds() == pytest.approx(7.0 + 3.0 + 2.0)  # start, assets, teacher
    assert e.wall_hours() == pytest.approx(e.core_hours() / 8 + (7.0 + 3.0 + 2.0) / 3600)
    gpu = e.gpu_hours()
    assert gpu["H100"] == pytest.approx(1e10 * 5e6 / (989e12 * 0.3) / 3600)
    assert gpu["T4"] > gpu["A100"] > gpu["H100"]
    assert e.to_dict()["rows"] == 5_000_000


def test_the_teacher_warms_up_on_other_sources_before_it_is_timed(corpus, tiny_teacher, monkeypatch):
    from kdaug.core import cost

    calls = []
    real = cost.label_rows
    monkeypatch.setattr(
        cost, "label_rows", lambda model, rows, *a: calls.append([r["id"] for r in rows]) or real(model, rows, *a)
    )
    count = count_corpus(plan_read_units(str(corpus)), COLUMNS, LABELS, sample_size=40)
    timed, warmup = count.sample[:20], count.sample[20:]
    spec = parse_augment_spec("synonym:ratio=0.3,copies=1,context=none")
    measure_costs(timed, [spec], 0, TeacherSettings(str(tiny_teacher), device="cpu"), warmup)
    assert calls[0] == [s.id for s in warmup]  # every shape the warm-up sources make, untimed
    assert {s.id for s in timed} <= set(calls[1])  # then the sample's rows, timed
