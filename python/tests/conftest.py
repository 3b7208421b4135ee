import os
import shutil

import pytest

# The attack readability measurement runs the OCR on every attack image;
# these tests check bytes and plumbing, not readability, and must stay fast.
os.environ.setdefault("MMSAFE_ATTACK_OCR", "off")


@pytest.fixture
def store(tmp_path):
    return str(tmp_path / "runs.db")


@pytest.fixture
def mmsafe_cli():
    """The `mmsafe` console script this package installed."""
    exe = shutil.which("mmsafe")
    if exe is None:
        pytest.skip("the mmsafe console script is not on PATH")
    return exe
