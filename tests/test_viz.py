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
