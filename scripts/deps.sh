# SPDX-License-Identifier: MIT
# Sourced by scripts/test, bench/run and .ci/run: install missing Debian
# packages.  Usage: loom_install_deps pkg...
loom_install_deps() {
    local missing=() p
    for p in "$@"; do
        dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "Installing missing packages: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}"
}

# What building and testing libloom needs.
LOOM_BUILD_DEPS=(gcc meson ninja-build pkg-config libglib2.0-dev liburing-dev
                 libjansson-dev libseccomp-dev)
