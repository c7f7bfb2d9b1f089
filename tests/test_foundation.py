"""Foundation checks: models stay Flask-free, one migration head, models match the migrations."""

import subprocess
import sys

from models.schema import check, heads


def test_importing_models_does_not_import_flask():
    code = "import sys, models, models.requests.hospital_coverage, models.demo; print('flask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_migration_history_has_a_single_head():
    assert len(heads()) == 1


def test_models_match_migrations_on_postgresql(migrated_database):
    check(migrated_database)
