"""The code location: the Definitions built from the settings in the environment.

The only module that reads the environment when imported; every other module only defines.
"""

from persistiq_dagster.config import Settings
from persistiq_dagster.defs.build import build_defs

defs = build_defs(Settings.from_env())
