"""Trainers: fine-tune teachers and distill students from materialized datasets (PyTorch).

One module a concern, read in this order: config.py (TrainConfig: every setting and its default),
dataset.py (the materialized dataset read back, and a run's rows, shuffled and batched), students.py and
losses.py (what trains, and on what), evaluation.py (scoring on a held-out corpus), checkpoint.py (a run's
state, and when it may resume), train.py (the loop: setup, epochs, finish), cli.py (`kdaug distill` and
`kdaug finetune`)."""
