"""The student version of the lab, filled in with a second correct solution that differs from
the reference wherever the instructions allow: its own Dataset class (no `split` attribute, no
`tensors()`), its own CNN (transposed convolutions, a dilated block), other smp architectures,
other loaders and helper names, and no `best_model`. Every check must pass and every cell after
it must run: the provided cells may use only what the checks verified.

After each passing check, cells make the typical mistakes seen in class (float masks, no
shuffle, an augmented val set, no upsampling, softmax in forward, evaluating on the train
loader, fit without val_loader, modules instead of builders, no classes=, lambdas made in a
loop, val used as test, a Subset of test) and require each check to name it. One run of the
lab, on a smaller training budget than the notebook's (about 26 s on a 2-core CPU), covers them all."""

from pathlib import Path

import nbformat
import pytest

from seglib import student

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "notebooks" / "09_lab_voc64.ipynb"

HELPERS = '''import re

def expect_failure(pattern, check_function, *args, **kwargs):
    """The check must fail with a message matching `pattern`."""
    try:
        check_function(*args, **kwargs)
    except check.CheckFailed as error:
        assert re.search(pattern, str(error)), f"expected /{pattern}/, got: {error}"
        assert error.hint
        return
    raise AssertionError(f"the check passed a mistake it should name: /{pattern}/")'''

SOLUTIONS = [
    # Task 1: a Dataset of my own on top of the raw split
    '''class LabImages(torch.utils.data.Dataset):
    """Reads a split as uint8 arrays and applies an Albumentations transform on every read."""

    def __init__(self, which, transform, side, limit=None):
        self.source = data.VOCSegmentation(dataset.path, which, size=side)
        self.count = len(self.source) if limit is None else min(limit, len(self.source))
        self.transform = transform

    def __len__(self):
        return self.count

    def __getitem__(self, index):
        picture, labels = self.source[index]
        out = self.transform(image=picture, mask=labels)
        return out["image"], out["mask"].long()


train_set = LabImages("train", data.train_transform(IMAGE_SIZE), AUGMENT_SIZE, TRAIN_IMAGES)
val_set = LabImages("val", data.eval_transform(IMAGE_SIZE), IMAGE_SIZE)
train_loader = DataLoader(train_set, batch_size=BATCH_SIZE, shuffle=True, drop_last=True)
val_loader = DataLoader(val_set, batch_size=32)''',
    # Task 2: another architecture
    """def unit(cin, cout, dilation=1):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation), nn.BatchNorm2d(cout), nn.ReLU())


class MyCNN(nn.Module):
    def __init__(self, num_classes=NUM_CLASSES):
        super().__init__()
        self.level1, self.level2 = unit(3, 32), unit(32, 64)
        self.level3 = nn.Sequential(unit(64, 128), unit(128, 128, dilation=2), unit(128, 128, dilation=4))
        self.pool = nn.MaxPool2d(2)
        self.rise2, self.mix2 = nn.ConvTranspose2d(128, 64, 2, stride=2), unit(128, 64)
        self.rise1, self.scores = nn.ConvTranspose2d(64, 32, 2, stride=2), nn.Conv2d(64, num_classes, 1)

    def forward(self, x):
        a = self.level1(x)
        b = self.level2(self.pool(a))
        c = self.level3(self.pool(b))
        b = self.mix2(torch.cat([self.rise2(c), b], 1))
        return self.scores(torch.cat([self.rise1(b), a], 1))


torch.manual_seed(SEED)
my_model = MyCNN()""",
    # Task 3
    """history = train.fit(my_model, train_loader, val_loader, num_classes=NUM_CLASSES, epochs=EPOCHS, lr=LR,
                    seed=SEED, progress=False)
val_results = train.evaluate(my_model, val_loader, NUM_CLASSES)""",
    # Task 4: other architectures, other names
    """def linknet():
    return smp.Linknet(SMP_ENCODER, encoder_weights=SMP_WEIGHTS, classes=NUM_CLASSES)


smp_builders = {"linknet": linknet,
                "psp": lambda: smp.PSPNet(SMP_ENCODER, encoder_weights=SMP_WEIGHTS, classes=NUM_CLASSES),
                "fpn": lambda: smp.FPN(SMP_ENCODER, encoder_weights=SMP_WEIGHTS, classes=NUM_CLASSES)}""",
    # Task 5: no best_model, my own loader
    """val_scores = {name: row["val"]["miou"] for name, row in rows.items()}
best_name = max(val_scores, key=val_scores.get)
test_set = LabImages("test", data.eval_transform(IMAGE_SIZE), IMAGE_SIZE)
test_results = train.evaluate(rows[best_name]["model"], DataLoader(test_set, batch_size=50), NUM_CLASSES)""",
]

MISTAKES = {  # after the check of task n passed
    1: [
        """class FloatMasks(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, index):
        image, mask = val_set[index]
        return image, mask.float()


expect_failure("must stay integers", check.dataset_and_loader, train_set, FloatMasks(), train_loader, val_loader,
               image_size=IMAGE_SIZE)
expect_failure("does not shuffle", check.dataset_and_loader, train_set, val_set, DataLoader(train_set, BATCH_SIZE),
               val_loader, image_size=IMAGE_SIZE)
expect_failure("validation is augmented", check.dataset_and_loader, train_set,
               LabImages("val", data.train_transform(IMAGE_SIZE), IMAGE_SIZE), train_loader, val_loader,
               image_size=IMAGE_SIZE)"""
    ],
    2: [
        """expect_failure("upsample by 4", check.segmentation_model, nn.Conv2d(3, NUM_CLASSES, 4, stride=4),
               image_size=IMAGE_SIZE)
expect_failure("applies a softmax", check.segmentation_model, nn.Sequential(nn.Conv2d(3, NUM_CLASSES, 1), nn.Softmax(1)),
               image_size=IMAGE_SIZE)"""
    ],
    3: [
        """expect_failure("labelled pixels; val_set has", check.training_run, history,
               train.evaluate(my_model, train_loader, NUM_CLASSES), val_set)
expect_failure("without a validation loader", check.training_run,
               dict(history, val_miou=[float("nan")] * len(history["train_loss"])), val_results, val_set)"""
    ],
    4: [
        """expect_failure("not a function that builds a model", check.smp_models,
               {name: build() for name, build in smp_builders.items()}, image_size=IMAGE_SIZE)
expect_failure("outputs 1 channels", check.smp_models,
               {**smp_builders, "unet": lambda: smp.Unet(SMP_ENCODER, encoder_weights=SMP_WEIGHTS)},
               image_size=IMAGE_SIZE)
late = {}
for architecture in ("Linknet", "PSPNet", "FPN"):
    late[architecture] = lambda: getattr(smp, architecture)(SMP_ENCODER, encoder_weights=SMP_WEIGHTS, classes=NUM_CLASSES)
expect_failure("one and the same function", check.smp_models, late, image_size=IMAGE_SIZE)"""
    ],
    5: [
        """expect_failure("reads the 'val' split|labelled pixels; the test split has", check.test_evaluation, test_results,
               val_set, best_name, rows)
expect_failure("keeps 10 of the split's", check.test_evaluation, test_results, Subset(test_set, range(10)),
               best_name, rows)"""
    ],
}


def _filled():
    handout = student.student_version(nbformat.read(LAB, as_version=4))
    cells, scaffolds, task = [], iter(SOLUTIONS), 0
    for cell in handout.cells:
        if "scaffold" in cell.metadata.get("tags", []):
            cell = nbformat.v4.new_code_cell(next(scaffolds), metadata={"tags": ["filled"]})
        if cell.cell_type == "code" and cell.source.startswith("SEED = "):  # the settings cell
            # A smaller budget: this test is about what the provided cells rely on, not results.
            cell.source += "\nTRAIN_IMAGES, EPOCHS = 64, 1"
        cells.append(cell)
        if cell.cell_type == "code" and cell.source.startswith("import os"):  # the imports cell
            cells.append(nbformat.v4.new_code_cell(HELPERS))
        if cell.cell_type == "code" and cell.source.startswith("check."):
            task += 1
            cells += [nbformat.v4.new_code_cell(source, metadata={"tags": ["mistake"]}) for source in MISTAKES[task]]
    assert task == 5 and next(scaffolds, None) is None
    handout.cells = cells
    return handout


@pytest.mark.slow  # runs the whole lab notebook with other solutions, on a 64-image, 1-epoch budget (~26 s)
def test_a_different_correct_solution_passes_every_check_and_every_cell_runs(tmp_path):
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = _filled()
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute()
    except CellExecutionError as error:
        pytest.fail(f"a cell failed after correct, non-reference answers:\n{str(error)[-3000:]}")
    checks = [c for c in notebook.cells if c.source.startswith("check.")]
    for number, cell in enumerate(checks, start=1):
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert text.startswith(f"✓ Task {number} "), (number, text)
    mistakes = [c for c in notebook.cells if "mistake" in c.metadata.get("tags", [])]
    assert len(mistakes) == 5 and all(c.execution_count for c in mistakes)
