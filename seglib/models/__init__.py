"""Segmentation models, one module per family (see DESIGN.md); shared blocks in ``blocks``."""
