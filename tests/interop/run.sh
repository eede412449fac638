#!/usr/bin/env bash
# Runs NetApp's own Python client (netapp-ontap) against ontap-sim.
# Usage: tests/interop/run.sh [pytest arguments]
# Env: ONTAP_SIM (simulator binary; default $CARGO_TARGET_DIR or target, /debug/ontap-sim, built here when missing
# or stale), INTEROP_VENV (default target/interop-venv; reused when it has the pinned versions).
set -euo pipefail

NETAPP_ONTAP_VERSION="9.19.1.0"
PYTEST_VERSION="9.2.0"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo_root"

venv="${INTEROP_VENV:-$repo_root/target/interop-venv}"
python="$venv/bin/python"

venv_is_current() {
    [[ -x "$python" ]] && "$python" - "$NETAPP_ONTAP_VERSION" "$PYTEST_VERSION" <<'PY'
import sys
import netapp_ontap
import pytest
sys.exit(0 if (netapp_ontap.__version__, pytest.__version__) == (sys.argv[1], sys.argv[2]) else 1)
PY
}

if ! venv_is_current 2>/dev/null; then
    echo "creating $venv with netapp-ontap $NETAPP_ONTAP_VERSION and pytest $PYTEST_VERSION" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "netapp-ontap==$NETAPP_ONTAP_VERSION" "pytest==$PYTEST_VERSION"
fi

if [[ -z "${ONTAP_SIM:-}" ]]; then
    cargo build --quiet --bin ontap-sim
    # cargo puts it under CARGO_TARGET_DIR when that is set (CI keeps its build cache there).
    export ONTAP_SIM="${CARGO_TARGET_DIR:-$repo_root/target}/debug/ontap-sim"
fi
if [[ ! -x "$ONTAP_SIM" ]]; then
    echo "ontap-sim not found at $ONTAP_SIM" >&2
    exit 2
fi

export PYTHONDONTWRITEBYTECODE=1
exec "$python" -m pytest -p no:cacheprovider "$repo_root/tests/interop" "$@"
