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
