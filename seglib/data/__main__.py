"""``python -m seglib.data download [--root DIR] [--keep-archive]``: fetch PASCAL VOC 2012.

The only way the course downloads data; see ``seglib.data.voc.main``.
"""
from .voc import main

main()
