"""Session set-up shared by the unit tests and the notebooks that nbval runs.

Notebook kernels inherit this process's environment, so what is set here holds inside them.
"""
import os

# Tests never depend on a real dataset being present (DESIGN.md: tests pin the stand-in).
os.environ["SEGLIB_DATASET"] = "synthetic"
# albumentations checks online for a newer release on import; never in tests.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")


def pytest_configure(config):
    # The first `import matplotlib` on a fresh machine builds a font cache and says so on
    # stderr; inside a notebook kernel that message would fail nbval. Build it here, once.
    import matplotlib.font_manager  # noqa: F401
