import pytest

from kdaug.cli import main as kdaug


@pytest.mark.parametrize(
    "command, required, meant",
    [
        ("materialize", ["--input", "in.jsonl", "--output", "OUT", "--teacher", "t"], "--seed"),
        ("distill", ["--data", "d", "--student", "bilstm", "--eval", "e", "--output", "OUT"], "--seed"),
        ("finetune", ["--data", "d", "--student", "bilstm", "--eval", "e", "--output", "OUT"], "--seed"),
        ("demo", ["--output", "OUT"], "--seeds"),
        ("sweep", ["--input", "i", "--eval", "e", "--teacher", "t", "--output", "OUT"], "--seeds"),
        ("compare", ["--input", "i", "--eval", "e", "--test", "t", "--teacher", "t", "--output", "OUT"], "--seeds"),
    ],
)
def test_a_mistyped_flag_fails_before_any_work_with_a_suggestion(tmp_path, capsys, command, required, meant):
    """A flag neither kdaug nor Beam knows was passed to Beam, which dropped it: --sead 3 ran with seed 0."""
    args = [a.replace("OUT", str(tmp_path / "out")) for a in required]
    assert kdaug([command, *args, "--sead", "3"]) == 2
    err = capsys.readouterr().err
    assert "unknown flag --sead" in err and f"did you mean {meant}?" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_beam_options_still_pass_and_their_typos_are_caught_too(capsys):
    from kdaug.pipelines.materialize import check_beam_args

    check_beam_args(
        ["--runner=DirectRunner", "--direct_num_workers", "2", "--direct_running_mode=multi_processing"], ["--seed"]
    )
    assert kdaug(["materialize", "--input", "i", "--output", "o", "--teacher", "t", "--direct_num_worker=2"]) == 2
    assert "did you mean --direct_num_workers?" in capsys.readouterr().err


def test_every_subcommand_turns_a_kdaug_error_into_one_line_and_exit_code_2(monkeypatch, capsys):
    import kdaug.cli as cli
    from kdaug.core.errors import KdaugError

    def fails(argv):
        raise KdaugError("the teacher at runs/t has no classifier head")

    for name in cli.SUBCOMMANDS:
        monkeypatch.setitem(cli.SUBCOMMANDS, name, (fails, ""))
        assert cli.main([name, "--anything"]) == 2
        err = capsys.readouterr().err
        assert err == f"kdaug {name}: error: the teacher at runs/t has no classifier head\n"
