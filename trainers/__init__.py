"""Trainers: fine-tune teachers and distill students from materialized datasets (PyTorch).

For now this holds the reader every trainer uses: a materialized dataset, checked against the schema in
schemas/ and streamed in record batches. The distillation and fine-tuning loops build on it."""
