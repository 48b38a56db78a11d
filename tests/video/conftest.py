"""Skip the video tests with a clear reason where PyAV (the `video` extra) is not installed."""

import pytest

pytest.importorskip("av", reason="PyAV is not installed: pip install '.[video]' (or '.[test]')")
