import dataclasses

from kdaug.trainers.cli import parser
from kdaug.trainers.config import TrainConfig

REQUIRED = ["--data", "d", "--student", "bilstm", "--eval", "e", "--output", "o"]


def test_flags_left_out_are_not_passed_so_train_config_holds_every_default():
    for objective in ("distill", "finetune"):
        args = {k: v for k, v in vars(parser(objective).parse_args(REQUIRED)).items() if v is not None}
        assert args == {"data": "d", "student": "bilstm", "eval": "e", "output": "o"}


def test_help_shows_train_config_defaults():
    text = parser("distill").format_help()
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    for flag, name in (("--epochs", "epochs"), ("--batch-size", "batch_size"), ("--temperature", "temperature")):
        assert f"default: {defaults[name]}" in text.split(flag, 2)[2].split("--", 1)[0]


def test_given_flags_reach_the_config():
    args = vars(parser("finetune").parse_args(REQUIRED + ["--epochs", "7", "--no-augmented", "--restart"]))
    assert args["epochs"] == 7 and args["augmented"] is False and args["restart"] is True
