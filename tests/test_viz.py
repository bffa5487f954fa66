"""Plot helpers: they draw what they promise, and the static slider holds every frame."""

import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from seglib import viz  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_to_numpy_image_handles_layouts():
    assert viz.to_numpy_image(torch.zeros(3, 4, 5)).shape == (4, 5, 3)
    assert viz.to_numpy_image(torch.zeros(1, 4, 5)).shape == (4, 5)
    assert viz.to_numpy_image(np.zeros((4, 5, 3), np.uint8)).shape == (4, 5, 3)
    with pytest.raises(ValueError, match="expected an image"):
        viz.to_numpy_image(torch.zeros(2, 3, 4, 5))


def test_show_matrix_writes_every_number():
    ax = viz.show_matrix(torch.tensor([[1.0, -0.0], [2.5, 3.0]]), highlight=[[True, False], [False, False]])
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "2.5", "3"]
    assert len(ax.patches) == 1


def test_show_matrix_row_labels():
    ax = viz.show_matrix(torch.zeros(2, 3), row_labels=["a", "b"])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    with pytest.raises(ValueError, match="2 names for 3 rows"):
        viz.show_matrix(torch.zeros(3, 3), row_labels=["a", "b"])


def test_static_slider_has_one_frame_per_combination_and_stable_ids():
    def render(a, b):
        fig, ax = plt.subplots(figsize=(1, 1))
        ax.set_title(f"{a}{b}")
        return fig

    html = viz.static_slider(render, a=[1, 2, 3], b=["x", "y"]).data
    frames = re.search(r"const frames = (\{.*?\});", html).group(1)
    assert frames.count("data:image/png;base64,") == 6
    assert html.count('type="range"') == 2
    assert viz.static_slider(render, a=[1, 2, 3], b=["x", "y"]).data.split('"')[1] == html.split('"')[1]
    with pytest.raises(ValueError, match="non-empty list"):
        viz.static_slider(render, a=[])


def test_draw_conv_geometry_output_size_in_title():
    fig = viz.draw_conv_geometry(kernel_size=3, stride=2, padding=1, dilation=1, input_size=7)
    assert fig._suptitle.get_text().endswith("= 4")
    fig = viz.draw_conv_geometry(kernel_size=5, stride=1, padding=0, dilation=2, input_size=7)
    assert "no output" in fig.axes[1].get_title()


def test_animate_convolution_has_one_frame_per_output_pixel():
    html = viz.animate_convolution(torch.arange(16.0).view(4, 4), torch.ones(3, 3), stride=1, padding=0).data
    assert html.count("data:image/png;base64") == 4


def test_colorize_uses_the_voc_palette():
    rgb = viz.colorize(torch.tensor([[0, 1], [15, 255]]))
    assert rgb.dtype == np.uint8 and rgb.shape == (2, 2, 3)
    assert rgb[0, 1].tolist() == [128, 0, 0] and rgb[1, 0].tolist() == [192, 128, 128]
    assert rgb[1, 1].tolist() == [224, 224, 192]


def test_show_confusion_normalises_rows_and_checks_names():
    ax = viz.show_confusion(np.array([[3, 1], [0, 4]]), ["a", "b"])
    assert ax.images[0].get_array()[0].tolist() == [0.75, 0.25]
    assert [t.get_text() for t in ax.texts] == ["0.75", "0.25", "0.00", "1.00"]
    with pytest.raises(ValueError, match="3 class names for a 2-class matrix"):
        viz.show_confusion(np.eye(2), ["a", "b", "c"])


def test_plot_history_and_per_class_bars():
    history = {"epoch": [1, 2], "train_loss": [1.0, 0.5], "val_miou": [0.2, 0.4]}
    fig = viz.plot_history({"ce": history, "focal": history})
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2
    ax = viz.plot_per_class({"ce": [0.1, float("nan")], "dice": [0.3, 0.4]}, ["bg", "cat"])
    assert len(ax.patches) == 4 and ax.patches[1].get_height() == 0.0
    with pytest.raises(ValueError, match="for 2 classes"):
        viz.plot_per_class({"ce": [0.1]}, ["bg", "cat"])


def test_paint_panoptic_colours_stuff_by_class_things_by_instance_and_void_white():
    categories = {1: {"color": [200, 0, 0]}, 4: {"color": [0, 0, 200]}}
    panoptic = np.array([[1001, 1002, 4000, -1]])
    picture = viz.paint_panoptic(panoptic, categories)
    assert picture.dtype == np.uint8 and picture.shape == (1, 4, 3)
    assert picture[0, 2].tolist() == [0, 0, 200] and picture[0, 3].tolist() == [255, 255, 255]
    assert picture[0, 0].tolist() != picture[0, 1].tolist()  # two balls, two shades
    with pytest.raises(KeyError, match="category 7"):
        viz.paint_panoptic(np.array([[7000]]), categories)


def test_plot_history_ticks_whole_epochs_and_names_metrics_as_the_book_does():
    history = {"epoch": [1, 2, 3], "train_loss": [1.0, 0.7, 0.5], "val_miou": [0.2, 0.3, 0.4]}
    fig = viz.plot_history({"ce": history})
    fig.canvas.draw()
    ticks = fig.axes[0].get_xticks()
    assert len(ticks) and all(float(t).is_integer() for t in ticks), ticks
    assert [ax.get_title() for ax in fig.axes] == ["train loss", "val mIoU"]
    assert viz.metric_label("val_pixel_accuracy") == "val pixel accuracy"
    assert viz.metric_label("train_fwiou") == "train fwIoU" and viz.metric_label("epoch") == "epoch"
    plt.close(fig)


def test_plot_per_class_fits_the_book_column():
    names = [f"class {k}" for k in range(21)]
    ax = viz.plot_per_class({f"run {r}": np.linspace(0, 1, 21) for r in range(5)}, names)
    width, _ = ax.figure.get_size_inches()
    assert width <= viz.BOOK_WIDTH
    plt.close(ax.figure)


def test_table_prints_as_text_and_renders_as_html():
    table = viz.Table(
        ["model", "parameters", "val mIoU"], [["a <b>", "1,000", 0.5]], footer=[["baseline", "", "0.038"]]
    )
    assert isinstance(table, str) and repr(table) == str(table)
    lines = table.splitlines()
    assert lines[0].split() == ["model", "parameters", "val", "mIoU"] and len({len(line) for line in lines}) == 1
    page = table._repr_html_()
    assert page.startswith("<table") and page.count("<tr>") == 3 and "<tfoot" in page
    assert "a &lt;b&gt;" in page and "<th" in page and ">0.5<" in page
    with pytest.raises(ValueError, match="2 cells for 3 columns"):
        viz.Table(["a", "b", "c"], [["x", "y"]])


def test_show_matrix_centres_signed_values_on_zero_and_leaves_nan_blank():
    ax = viz.show_matrix(torch.tensor([[-1.0, 0.0, 1.0, float("nan")]]))
    image = ax.images[0]
    assert image.norm.vmin == -image.norm.vmax, "a signed matrix gets limits symmetric about 0"
    colours = image.to_rgba(np.array([-1.0, 0.0, 1.0]))
    assert not np.allclose(colours[0], colours[2]), "-1 and +1 must not look alike"
    assert sorted(t.get_text() for t in ax.texts) == ["-1", "0", "1"], "the NaN cell stays blank"
    ax = viz.show_matrix(torch.tensor([[0.0, 2.0]]))
    assert ax.images[0].norm.vmin == 0


def test_show_image_signed_uses_a_diverging_map_centred_on_zero():
    ax = viz.show_image(torch.linspace(-3, 1, 100).view(10, 10), signed=True)
    norm = ax.images[0].norm
    assert norm.vmin == -norm.vmax > -3 and ax.images[0].get_cmap().name == "RdBu_r"


def test_draw_atrous_taps_marks_the_taps_on_padding():
    fig = viz.draw_atrous_taps(8, [1, 5], positions=[(0, 0)])
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["rate 1: 16% of taps\non padding", "rate 5: 66% of taps\non padding"]
    for ax, rate in zip(fig.axes, (1, 5), strict=True):
        taps = [tuple(c.get_offsets()[0]) for c in ax.collections]
        assert sorted(taps) == sorted((j * rate, i * rate) for i in (-1, 0, 1) for j in (-1, 0, 1))
        assert sum(0 <= x < 8 and 0 <= y < 8 for x, y in taps) == 4  # a corner output: 4 taps on the map
    assert fig.get_size_inches()[0] <= viz.BOOK_WIDTH
    plt.close(fig)
    with pytest.raises(ValueError, match="at least one rate"):
        viz.draw_atrous_taps(8, [])
