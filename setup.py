# Dataflow's --setup_file needs a file named setup.py; all metadata lives in pyproject.toml.
from setuptools import setup

setup()
