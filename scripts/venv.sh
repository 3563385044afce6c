# Sourced by scripts/serve and scripts/test: make .venv and install the project into it.
# The install is redone only when pyproject.toml changed (a stamp per set of extras).
ensure_venv() {
  extras=$1
  python=${PYTHON:-python3}
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "registrar needs Python 3.11 or newer as '$python' (set PYTHON=...)" >&2
    exit 1
  fi
  if [ ! -x .venv/bin/python ]; then
    echo "creating .venv ..." >&2
    "$python" -m venv .venv
  fi
  stamp=".venv/.installed${extras:+-$extras}"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "installing registrar${extras:+[$extras]} into .venv ..." >&2
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras:+[$extras]}"
    touch "$stamp"
  fi
}
