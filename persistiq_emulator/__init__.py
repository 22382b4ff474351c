"""A local, standard-library emulator of the PersistIQ v1 API for tests and demos."""

from persistiq_emulator.data import EmulatorStore
from persistiq_emulator.endpoints import select
from persistiq_emulator.generate import make_dataset
from persistiq_emulator.server import PersistIQEmulator, RequestRecord

__all__ = ["EmulatorStore", "PersistIQEmulator", "RequestRecord", "make_dataset", "select"]
