"""The manifest is parsed at build time and again only when the dbt project changed: loading
the Definitions reads it as it is."""

import json
import os
import shutil
import time

from dagster_dbt import DbtProject

from persistiq_dagster.defs.analytics.project import (
    DBT_PROJECT_DIR,
    GENERATED,
    analytics_project,
    is_stale,
    project_files,
    user_target,
)


def copy_of_the_project(tmp_path) -> DbtProject:
    folder = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, folder, ignore=shutil.ignore_patterns(*GENERATED))
    return DbtProject(project_dir=folder)


def test_a_manifest_older_than_a_model_or_missing_is_stale(tmp_path):
    project = copy_of_the_project(tmp_path)
    assert is_stale(project)  # none yet
    project.manifest_path.parent.mkdir()
    project.manifest_path.write_text("{}")
    assert not is_stale(project)
    model = project.project_dir / "models" / "marts" / "campaign_daily.sql"
    later = time.time() + 60
    os.utime(model, (later, later))
    assert is_stale(project)
    # What dbt writes in its target folder is not the project.
    assert not any("target" in path.parts for path in project_files(project.project_dir))


def test_the_manifest_here_is_up_to_date_and_lists_every_model():
    """make prepares it before the tests: every .sql file is a model in it."""
    project = analytics_project()
    assert not is_stale(project)
    manifest = json.loads(project.manifest_path.read_text())
    models = {
        node["name"] for node in manifest["nodes"].values() if node["resource_type"] == "model"
    }
    files = {path.stem for path in (DBT_PROJECT_DIR / "models").rglob("*.sql")}
    assert models == files and len(files) == 15


def test_a_project_that_cannot_be_written_is_parsed_into_a_folder_of_the_users_own(
    tmp_path, caplog
):
    """As in an image whose package is read-only: loading goes on, with one line naming the
    fix. (A file where the target folder would be: as root, as the tests run, permissions
    stop nothing; ``e2e/test_image.py`` runs the read-only case as the image's user.)"""
    project = copy_of_the_project(tmp_path)
    (project.project_dir / "target").write_text("not a folder")
    fallback = user_target(project.project_dir)
    shutil.rmtree(fallback.parent, ignore_errors=True)
    try:
        with caplog.at_level("WARNING"):
            parsed = analytics_project(project.project_dir)
        assert parsed.manifest_path == fallback / "manifest.json"
        assert not is_stale(parsed)
        assert json.loads(parsed.manifest_path.read_text())["nodes"]
        (warning,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert "\n" not in warning
        assert str(project.project_dir / "target") in warning and str(fallback) in warning
        assert "python -m persistiq_dagster.cli.prepare_analytics" in warning
        # The next process reads that parse as it is.
        parsed_at = parsed.manifest_path.stat().st_mtime_ns
        assert analytics_project(project.project_dir).manifest_path == parsed.manifest_path
        assert parsed.manifest_path.stat().st_mtime_ns == parsed_at
    finally:
        shutil.rmtree(fallback.parent, ignore_errors=True)
