"""The Gallery names the class of each column on conditional grids."""

import numpy as np

from engines.imaging import class_grid_columns, make_grid
from engines.train import events as ev


def test_conditional_grids_are_square_and_labelled_by_class(qtbot, window):
    images = np.random.default_rng(0).integers(0, 255, (16, 8, 8, 1), dtype=np.uint8)
    names = ("cat", "dog")
    captions = tuple(names[i % 2] for i in range(16))
    grid = make_grid(images, columns=class_grid_columns(16, 2))
    window.state.samples.emit(ev.Samples(10, images, grid, None, captions))
    view = window.panels["gallery"].grid_view
    assert view.columns == 4 and view.column_names == ["cat", "dog", "cat", "dog"]
    assert view.header_height() > 0 and view.target_rect().top() >= view.header_height()
    # an unconditional grid has no header
    window.state.samples.emit(ev.Samples(20, images, make_grid(images), None))
    assert view.column_names is None and view.header_height() == 0
    # names that do not line up in columns are not shown as headers
    view.set_grid(make_grid(images, columns=3), 16, 8, captions)
    assert view.column_names is None
