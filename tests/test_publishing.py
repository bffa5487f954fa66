"""The path from the published book to runnable code: the install line covers every import, and
the repository URL, set in one place in _config.yml, turns on the launch buttons."""
import ast
import json
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# import name -> distribution name, where they differ
DISTRIBUTIONS = {"cv2": "opencv-python-headless", "skimage": "scikit-image", "sklearn": "scikit-learn",
                 "PIL": "pillow", "segmentation_models_pytorch": "segmentation-models-pytorch",
                 "IPython": "ipython"}


def _imports(source: str) -> set[str]:
    source = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    modules = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules.add(node.module.split(".")[0])
    return modules - set(sys.stdlib_module_names) - {"seglib"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_the_course_install_covers_every_import_of_every_notebook_and_of_seglib():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    installed = {_name(r) for r in project["dependencies"] + project["optional-dependencies"]["course"]}
    needed = {}
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                for module in _imports("".join(cell["source"])):
                    needed.setdefault(module, path.name)
    for path in sorted((ROOT / "seglib").rglob("*.py")):  # what the notebooks' seglib calls import
        for module in _imports(path.read_text(encoding="utf-8")):
            needed.setdefault(module, str(path.relative_to(ROOT)))
    assert {"torch", "segmentation_models_pytorch", "albumentations", "networkx"} <= set(needed)
    missing = {module: where for module, where in needed.items()
               if DISTRIBUTIONS.get(module, module).lower().replace("_", "-") not in installed}
    assert not missing, f"imported but not installed by `pip install seglib[course]` (pyproject.toml): {missing}"
