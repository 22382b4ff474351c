"""The pinned install: constraints.txt pins every package, within setup.py's ranges, and the
environment running these tests was installed from it."""

from importlib.metadata import PackageNotFoundError, requires, version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from persistiq_dagster_tests.dagster_cli import PROJECT_DIR

CONSTRAINTS = PROJECT_DIR / "constraints.txt"


def pins(path: Path = CONSTRAINTS) -> dict[str, str]:
    pinned = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, sep, pinned_version = line.partition("==")
            assert sep and pinned_version, f"not an exact pin: {line!r}"
            pinned[canonicalize_name(name)] = pinned_version.strip()
    return pinned


def test_every_dependency_and_extra_is_pinned_within_setup_pys_range():
    pinned = pins()
    requirements = [Requirement(text) for text in requires("persistiq_dagster") or []]
    assert len(requirements) >= 7  # the project's own, dev and postgres extras included
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), (
            f"constraints.txt pins {name}=={pinned[name]}, outside setup.py's {requirement}"
        )
    assert "psycopg2-binary" in pinned  # the postgres extra's driver, for the Dockerfile


def test_this_environment_was_installed_from_the_pins():
    """make test installs with -c constraints.txt: every pinned package present here is at
    its pinned version (psycopg2 is absent unless the postgres extra was installed)."""
    installed = {}
    for name in pins():
        try:
            installed[name] = version(name)
        except PackageNotFoundError:
            continue
    assert {"dagster", "dlt", "duckdb", "dagster-dlt"} <= set(installed)
    assert {name: v for name, v in installed.items() if v != pins()[name]} == {}
