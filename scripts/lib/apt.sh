# Root and apt helpers shared by scripts/setup.sh, scripts/test-go.sh and
# scripts/vm/setup.sh. Sourced, not run; the sourcing script defines
# `log` (one line to stderr) first.
#
#   as_root CMD...             run CMD as root (sudo when not root)
#   apt_update                 apt-get update, once per script run
#   apt_install [-t SUITE] PKG...
#                              apt-get install --no-install-recommends,
#                              quietly (output shown only on failure)
#   apt_add_backports          add Debian bookworm-backports as a source
#                              unless a source already names it
#
# Each returns non-zero on failure; the caller decides whether to stop.

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root to run: $*"
        return 1
    fi
}

# Runs an apt command as root, showing its output only when it fails.
apt_quiet() {
    command -v apt-get >/dev/null 2>&1 || { log "apt-get not found"; return 1; }
    local out rc=0
    out=$(mktemp)
    as_root env DEBIAN_FRONTEND=noninteractive "$@" >"$out" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || cat "$out" >&2
    rm -f "$out"
    return "$rc"
}

APT_UPDATED=0
apt_update() {
    [ "$APT_UPDATED" -eq 1 ] && return 0
    log "apt-get update"
    apt_quiet apt-get update -qq || return 1
    APT_UPDATED=1
}

apt_install() {
    apt_update || return 1
    apt_quiet apt-get install -y -qq --no-install-recommends "$@"
}

apt_add_backports() {
    grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/ && return 0
    log "adding the bookworm-backports apt suite"
    # The backports suite lives on the same mirror as the image's sources.
    as_root tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null <<'SRC' || return 1
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    APT_UPDATED=0
}
