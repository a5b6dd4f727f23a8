#!/usr/bin/env bash
# Regenerate the initial migration from SQLModel.metadata on a scratch embedded database.
# Before the first release there is one initial migration; after it, add new revisions instead.
# A lock keeps two engineers' runs from interleaving.
#
# The initial migration shipped with the first release (2026-11-28): databases already at
# revision 0001 would NOT get the regenerated columns. Add a new revision instead:
#   make migration m="what changed"
set -euo pipefail
if [ "${DEALDESK_REGENERATE_INITIAL:-}" != "1" ]; then
  echo "refusing: the initial migration has shipped; run: make migration m=\"what changed\"" >&2
  echo "(set DEALDESK_REGENERATE_INITIAL=1 only for a database that has never been migrated)" >&2
  exit 2
fi
cd "$(dirname "$0")/../.."
exec 9>/tmp/dealdesk-regenerate.lock
flock -w 300 9
scratch=$(mktemp -d /tmp/dd-regen-XXXX)
export DEALDESK_DATA_DIR=$scratch
trap 'rm -rf "$scratch"' EXIT
rm -f store/migrations/versions/*_0001_initial_schema.py
.venv/bin/python - <<'PY'
from sqlalchemy import text
from store.db import get_engine
from store.embedded import stop_all
from store.registry import SCHEMAS
with get_engine().begin() as c:
    for s in SCHEMAS:
        c.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{s}"'))
    c.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
get_engine().dispose()
stop_all()
PY
.venv/bin/alembic -c store/migrations/alembic.ini revision --autogenerate -m "initial schema" --rev-id 0001
f=$(ls store/migrations/versions/*_0001_initial_schema.py)
.venv/bin/python store/migrations/add_prelude.py "$f"
.venv/bin/ruff check -q --fix "$f" || true
.venv/bin/ruff format -q "$f"
echo "regenerated $f"
