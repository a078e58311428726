# Shared by scripts/demo and scripts/test: Debian packages from scripts/debian-packages and
# the virtual environment in ./.venv. Sourced, not run.

# debian_packages NAME: the packages scripts/debian-packages lists for script NAME
debian_packages() {
  awk -v who="$1" '!/^#/ && NF { for (i = 2; i <= NF; i++) if ($i == who) { print $1; break } }' \
    scripts/debian-packages | tr '\n' ' '
}

# ensure_debian_packages NAME: install the missing ones (as root), or say how
ensure_debian_packages() {
  local missing="" package policy=""
  for package in $(debian_packages "$1"); do
    dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
  done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "missing Debian packages:$missing (install them with: sudo apt-get install$missing)" >&2
    return 1
  fi
  echo "installing Debian packages:$missing" >&2
  # servers are started by the tests themselves: keep the packages from starting system-wide ones
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    policy=1
  fi
  apt-get update -qq
  # debconf's "delaying package configuration" note on machines without apt-utils is noise
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
    2> >(grep -v "^debconf: delaying package configuration" >&2) >/dev/null
  [ -n "$policy" ] && rm -f /usr/sbin/policy-rc.d
  return 0
}

# make_venv: ./.venv, quietly (venv's own advice would name the wrong fix before ours runs)
make_venv() {
  [ -x .venv/bin/python ] && return 0
  if ! python3 -m venv .venv >/dev/null 2>&1; then
    rm -rf .venv
    echo "python3 cannot create a virtual environment: install python3-venv" \
      "(sudo apt-get install python3-venv)" >&2
    return 1
  fi
}
