"""The files that make a materialized dataset something to hand on: the manifest (manifest.py), the
dataset card (card.py, from card_template.md) and Croissant metadata (croissant.py) written beside the
data; the checks against the manifest (verify.py); the augmentation report (report.py); the upload to
the Hugging Face Hub (hub.py). The commands that drive them (`kdaug verify`, `report`, `publish`) are in
the app layer (kdaug/dataset_commands.py)."""
