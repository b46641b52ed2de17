import pytest

from . import emu


@pytest.fixture(scope="session")
def emu_exe():
    try:
        return emu.executable()
    except FileNotFoundError as e:
        pytest.skip(f"emulation harness unavailable: {e}")
