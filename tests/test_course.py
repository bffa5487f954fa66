"""Course checkpoints (seglib.course): every recipe has a checkpoint within the size budget, each
loads strictly into its current model class and reproduces its stored val mIoU, a stale one
fails naming the command that regenerates it, and nothing is loaded in a way that runs code."""

import dataclasses
import pickle

import pytest
import torch

from seglib import course

NAMES = list(course.RECIPES)


def test_every_recipe_has_a_checkpoint_within_budget():
    missing = [name for name in NAMES if not (course.CHECKPOINT_DIR / f"{name}.pt").is_file()]
    assert not missing, f"no checkpoint for {missing}; run `{course.COMMAND} --only {' '.join(missing)}`"
    sizes = {p.name: p.stat().st_size / 1e6 for p in course.CHECKPOINT_DIR.parent.rglob("*.pt")}
    assert max(sizes.values()) <= 6.0, sizes
    assert sum(sizes.values()) <= 40.0, sizes


@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_loads_strictly_and_matches_its_recipe(name):
    """Strict load (course.load raises on a stale fingerprint or settings), the record's settings,
    seeds and histories, and float16 weights: what a change to a model class or a recipe breaks,
    checked in the everyday loop (the evaluation below is slow)."""
    course.load(name)
    meta = course.record(name)
    assert meta["settings"] == course.RECIPES[name].settings()
    assert [run["seed"] for run in meta["runs"]] == list(course.RECIPES[name].seeds)
    for run in meta["runs"]:
        assert len(run["history"]["val_miou"]) == meta["settings"]["epochs"]
        assert run["seconds"] > 0 and run["device"]
    assert all(
        v.dtype in (torch.float16, torch.int64)
        for v in torch.load(course.CHECKPOINT_DIR / f"{name}.pt", weights_only=True)["state_dict"].values()
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_checkpoint_reproduces_its_val_miou(name):
    """Evaluation on the validation data reproduces the stored seed-0 result, which was measured
    on the float16 weights (and every seed's, where all seeds' weights are kept)."""
    model = course.load(name)
    meta = course.record(name)
    results = course.evaluate(name, model, device="cpu")
    assert results["miou"] == pytest.approx(
        meta["runs"][0]["val"]["miou"], abs=5e-3
    )  # float differences may flip a pixel
    assert results["pixel_accuracy"] == pytest.approx(meta["runs"][0]["val"]["pixel_accuracy"], abs=2e-3)
    if name in course.ALL_SEED_WEIGHTS:  # every seed's weights are kept: each reproduces its own result
        for run in meta["runs"][1:]:
            other = course.evaluate(name, course.load(name, seed=run["seed"]), device="cpu")
            assert other["miou"] == pytest.approx(run["val"]["miou"], abs=5e-3)
    else:
        with pytest.raises(KeyError, match="keeps the weights of seed"):
            course.load(name, seed=1)


def test_stale_definition_names_the_command(monkeypatch):
    from seglib.models.segnet import SegNet

    changed = dataclasses.replace(course.RECIPES["segnet"], build=lambda: SegNet(21, widths=(16, 32, 48)))
    monkeypatch.setitem(course.RECIPES, "segnet", changed)
    with pytest.raises(
        course.StaleCheckpoint, match=r"another definition.*python tools/train_course_models.py --only segnet"
    ):
        course.load("segnet")


def test_changed_settings_are_stale(monkeypatch):
    monkeypatch.setitem(course.RECIPES, "segnet", dataclasses.replace(course.RECIPES["segnet"], epochs=3))
    with pytest.raises(course.StaleCheckpoint, match=r"epochs changed.*--only segnet --force"):
        course.load("segnet")


class _Exploit:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path(__import__('os').environ['EXPLOIT_MARK']).write_text('ran')",))


def test_a_crafted_checkpoint_runs_no_code(tmp_path, monkeypatch):
    mark = tmp_path / "ran.txt"
    monkeypatch.setenv("EXPLOIT_MARK", str(mark))
    with open(tmp_path / "segnet.pt", "wb") as file:
        pickle.dump({"state_dict": {}, "meta": _Exploit()}, file)
    with pytest.raises(course.StaleCheckpoint, match="cannot be read"):
        course.load("segnet", tmp_path)
    assert not mark.exists()


def test_missing_checkpoint_says_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--only unet"):
        course.load("unet", tmp_path)
    with pytest.raises(KeyError, match="recipes are"):
        course.load("no_such_model")


def test_spread_and_distinguishable():
    mean, half, values = course.spread("fcn8s")
    assert min(values) <= mean <= max(values) and half == pytest.approx((max(values) - min(values)) / 2)
    assert course.distinguishable("fcn8s", "fcn8s") is False
    with pytest.raises(KeyError, match="spread takes one of"):
        course.spread("fcn8s", "iou")  # per-class lists have no single spread


def _tiny_recipe(monkeypatch, tmp_path, work):
    from seglib.models.fcn import FCN

    tiny = course.Recipe(
        "tiny",
        "00",
        "tiny FCN",
        "voc64",
        epochs=2,
        train_images=32,
        seeds=(0,),
        build=lambda: FCN(21, "32s", widths=(4,) * 5, depths=(1,) * 5, head_width=8, head_kernel=1),
    )
    monkeypatch.setitem(course.RECIPES, "tiny", tiny)
    monkeypatch.setattr(course, "_work_dir", lambda: tmp_path / work)


def test_the_tool_is_deterministic_and_resumes_an_interrupted_run(monkeypatch, tmp_path):
    """Two runs from scratch give the same weights; a run killed after its first epoch resumes
    from fit's checkpoint and ends with the same weights and history as the uninterrupted one."""
    from seglib import train

    _tiny_recipe(monkeypatch, tmp_path, "first")
    course.make_checkpoint("tiny", device="cpu", progress=False, out_dir=tmp_path / "a")
    _tiny_recipe(monkeypatch, tmp_path, "second")
    real_evaluate, calls = train.evaluate, []

    def dies_in_epoch_two(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt("killed")
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(train, "evaluate", dies_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        course.make_checkpoint("tiny", device="cpu", progress=False, out_dir=tmp_path / "b")
    assert (tmp_path / "second" / "synthetic" / "tiny-seed0.partial.pt").is_file()
    monkeypatch.setattr(train, "evaluate", real_evaluate)
    course.make_checkpoint("tiny", device="cpu", progress=False, out_dir=tmp_path / "b")
    a = torch.load(tmp_path / "a" / "tiny.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "tiny.pt", weights_only=True)
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, atol=0, rtol=0)
    assert a["meta"]["runs"][0]["history"]["val_miou"] == b["meta"]["runs"][0]["history"]["val_miou"]
    assert course.load("tiny", tmp_path / "b") is not None


def test_verdict_names_the_better_model_first_whatever_the_order():
    line = course.verdict("fcn32s", "fcn8s")
    assert line == course.verdict("fcn8s", "fcn32s") and line.startswith("FCN-8s - FCN-32s: +") and "NOT" not in line


def test_the_tool_estimates_a_set_without_saving_anything(monkeypatch, tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "train_course_models", course.CHECKPOINT_DIR.parents[1] / "tools" / "train_course_models.py"
    )
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    _tiny_recipe(monkeypatch, tmp_path, "estimate")
    recipe = course.RECIPES["tiny"]
    tool.estimate(["tiny"], "cpu")
    assert course.RECIPES["tiny"] is recipe  # restored
    printed = capsys.readouterr().out
    assert "x 2 epochs x 1 seed(s)" in printed and "estimated total:" in printed
    assert not (tmp_path / "estimate").exists()  # train_recipe keeps no run


def test_build_for_another_class_count():
    for name in ("fcn8s", "unet", "deeplab_v3", "pspnet", "loss_focal"):
        model = course.build(name, num_classes=5).eval()
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 5, 64, 64), name
        assert course.fingerprint(course.build(name, num_classes=21)) == course.fingerprint(course.build(name))
    with pytest.raises(ValueError, match="2 classes only"):
        course.build("membrane_unet", num_classes=3)


def test_lab_definitions_run_only_the_definitions_of_the_solution_cell(tmp_path):
    """The lab's reference models come from its solution cells: their imports, functions,
    classes and the one assignment asked for, with the settings cell's literals, never the
    cell's other statements (here one that would fail), nor a scaffold's code."""
    import nbformat

    lab = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell("%pip install nothing\nWIDTH = 3  # a setting\nDERIVED = WIDTH * 2"),
            nbformat.v4.new_code_cell(
                "def make():\n    return nn.Conv2d(1, WIDTH, 1)\n\nraise RuntimeError('ran')\nbuilders = {'a': make}",
                metadata={"tags": ["solution"]},
            ),
            nbformat.v4.new_raw_cell("builders = ...", metadata={"tags": ["scaffold"]}),
        ]
    )
    nbformat.write(lab, tmp_path / "lab.ipynb")
    builders = course.lab_definition("builders", tmp_path / "lab.ipynb")
    assert builders["a"]().out_channels == 3
    with pytest.raises(KeyError, match="no solution cell of lab.ipynb defines 'DERIVED'"):
        course.lab_definition("DERIVED", tmp_path / "lab.ipynb")
    with pytest.raises(FileNotFoundError, match="need a checkout of the course repository"):
        course.lab_definition("builders", tmp_path / "missing.ipynb")
    assert course.build("lab_cnn").__class__.__name__ == "MyCNN", "the lab's own class, from notebook 09"
