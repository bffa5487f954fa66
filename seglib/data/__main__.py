"""``python -m seglib.data download [--root DIR] [--keep-archive]``: see ``seglib.data.cli``."""
from .cli import main

main()
