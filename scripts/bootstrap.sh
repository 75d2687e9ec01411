#!/usr/bin/env bash
# Create .venv with Python >= 3.12 (Django 6 needs it) and install the project with its extras.
# Re-installs only when pyproject.toml changed. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  for candidate in "${PYTHON:-}" python3.14 python3.13 python3.12 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  # pyenv installs that are present but not selected
  for candidate in "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3; do
    [ -x "$candidate" ] && { echo "$candidate"; return 0; }
  done
  return 1
}

if [ ! -x .venv/bin/python ]; then
  py=$(find_python) || { echo "leadqual needs Python 3.12 or newer (set PYTHON=/path/to/python3.12)." >&2; exit 1; }
  echo "Creating .venv with $py"
  "$py" -m venv .venv
fi

stamp=.venv/.leadqual-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[embedded,dev]"
  touch "$stamp"
fi
