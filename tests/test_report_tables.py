"""Report tables show numbers as the paper does (3 decimals) and keep the table's note."""

from __future__ import annotations

import pandas as pd
import pytest

from sonomics.io import write_table
from sonomics.report.html import _display, _table_html


@pytest.mark.parametrize(("cell", "shown"), [
    ("0.8908382498825246", "0.891"), ("0.66", "0.660"), ("1.0", "1.000"),
    ("0.00012345", "1.2e-04"), ("0", "0"), ("001", "001"), ("12", "12"),
    ("0.861 - 0.910", "0.861 - 0.910"), ("not computable", "not computable"), ("nan", "nan"),
])
def test_cells_are_shown_to_three_decimals_and_text_is_kept(cell, shown):
    assert _display(cell) == shown


def test_table_html_rounds_and_shows_the_note(tmp_path):
    frame = pd.DataFrame({"Model": ["LR-testing"], "AUC": [0.912345678], "n": [42]})
    path = write_table(frame, tmp_path, "t", title="Table X", note="Cut-offs from training.")
    page = _table_html(path)
    assert "0.912" in page and "0.912345678" not in page and ">42<" in page
    assert "Cut-offs from training." in page
