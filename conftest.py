"""Session set-up shared by the unit tests and the notebooks that nbval runs.

Notebook kernels inherit this process's environment, so what is set here holds inside them.
"""

import importlib.util
import os
from pathlib import Path

import pytest

# Tests never depend on a real dataset being present (DESIGN.md: tests pin the stand-in).
os.environ["SEGLIB_DATASET"] = "synthetic"
# albumentations checks online for a newer release on import; never in tests.
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
# Under `pytest -n N` every worker's notebook kernel would start one OpenMP thread per core:
# N kernels on the same cores spin-wait on each other, and an elementwise op that takes 0.05 ms
# alone took 7 ms (measured on 2 cores, 2 threads, one busy core). Share the cores out instead.
_workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
if _workers > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _workers)))


def pytest_configure(config):
    # The first `import matplotlib` on a fresh machine builds a font cache and says so on
    # stderr; inside a notebook kernel that message would fail nbval. Build it here, once.
    import matplotlib.font_manager  # noqa: F401

    # Stderr that background threads of a notebook kernel write under load lands in whatever cell
    # runs; nbval then fails a cell that wrote nothing. Ignore those few known messages only.
    if config.pluginmanager.hasplugin("nbval"):
        from nbval.plugin import IPyNbCell

        spec = importlib.util.spec_from_file_location("nbval_noise", Path(__file__).parent / "tests" / "nbval_noise.py")
        noise = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(noise)
        noise.install(IPyNbCell)


def pytest_collection_modifyitems(config, items):
    # nbval's items are the cells of whole-notebook runs (12-90 s a notebook): all `slow`, so that
    # `pytest -m "not slow and not book"` is the fast everyday loop (CONTRIBUTING.md).
    for item in items:
        if item.nodeid.split("::", 1)[0].endswith(".ipynb"):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def one_thread():
    """One PyTorch (and BLAS/OpenMP) thread for the test: tiny tensors gain nothing from more, and
    on a busy CPU extra threads spin-wait (measured: 45 s instead of a few). Use it in a test
    module with ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    from threadpoolctl import threadpool_limits

    from seglib.timing import cpu_threads

    with cpu_threads(1), threadpool_limits(1):
        yield
