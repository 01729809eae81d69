"""Read the code the documentation shows, so that tests run it as written."""

from __future__ import annotations

import re

from tests.servers import ROOT

FENCE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def snippet(doc: str, marker: str) -> str:
    """Return the one ```python block of ``doc`` (a path under the root) containing ``marker``.

    Only blocks fenced at the start of a line count: an indented one belongs to a list item.
    """
    blocks = FENCE.findall((ROOT / doc).read_text())
    [found] = [b for b in blocks if marker in b]
    return str(found)
