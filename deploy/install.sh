#!/bin/sh
# k3rs installer: puts the k3rs binary on the machine, installs containerd and
# runc through the system's package manager, writes the systemd unit and its
# environment file, creates k3rs-killall.sh and k3rs-uninstall.sh, and starts
# the service. Running it again with the same settings changes nothing; with
# new settings it rewrites the unit and restarts the service.
#
#   sudo sh install.sh                                 # a server
#   sudo K3RS_URL=https://cp1:6443 K3RS_TOKEN=... sh install.sh   # an agent
#   sudo sh install.sh server --tls-san k3rs.example.com          # extra flags
#
# Environment:
#   K3RS_URL                  join this server; the default command becomes `agent`
#   K3RS_TOKEN, K3RS_TOKEN_FILE  the cluster's join token (required with K3RS_URL
#                             for agents)
#   K3RS_*                    every K3RS_ variable is written to the unit's
#                             environment file (k3rs reads K3RS_<FLAG> as --<flag>)
#   INSTALL_K3RS_EXEC         command and flags for the service: "server --disable-agent",
#                             "agent", or flags only; arguments to this script are added
#   INSTALL_K3RS_SKIP_START=true   install and enable, but do not start
#   INSTALL_K3RS_SKIP_ENABLE=true  do not enable or start the service
#   INSTALL_K3RS_SKIP_DEPS=true    do not install containerd and runc
#   INSTALL_K3RS_BINARY       the k3rs binary to install (default: k3rs-<arch> or
#                             k3rs beside this script)
#   INSTALL_K3RS_DOWNLOAD_URL download the binary from this URL instead
#                             (with INSTALL_K3RS_SHA256 to check it)
#   INSTALL_K3RS_BIN_DIR      default /usr/local/bin, or /opt/bin when /usr is read-only
#   INSTALL_K3RS_SYSTEMD_DIR  default /etc/systemd/system
#   INSTALL_K3RS_ROOT         install into this directory as the root file system
#                             (images, tests): nothing is started or installed on
#                             the running machine; what would run is printed
set -e
set -f

info() { echo "[INFO]  $*"; }
warn() { echo "[WARN]  $*" >&2; }
fatal() {
    echo "[ERROR] $*" >&2
    exit 1
}

is_true() {
    case "$1" in
        true | TRUE | True | 1 | yes) return 0 ;;
        *) return 1 ;;
    esac
}

# --- where things go -------------------------------------------------------

setup_root() {
    ROOT="${INSTALL_K3RS_ROOT:-}"
    ROOT="${ROOT%/}"
    if [ -n "$ROOT" ]; then
        [ -d "$ROOT" ] || fatal "INSTALL_K3RS_ROOT $ROOT is not a directory"
        ROOT=$(cd "$ROOT" && pwd)
        info "Installing into $ROOT; nothing is installed or started on this machine"
    elif [ "$(id -u)" != 0 ]; then
        fatal "run the installer as root (sudo sh install.sh)"
    fi
}

# Runs a command that changes the running machine; with INSTALL_K3RS_ROOT it is
# only reported.
run_host() {
    if [ -n "$ROOT" ]; then
        echo "[WOULD] $*"
    else
        "$@"
    fi
}

# Directories made by this script, so that the uninstaller removes only those.
CREATED_DIRS=""
ensure_dir() {
    [ -d "$ROOT$1" ] && return 0
    ensure_dir "$(dirname "$1")"
    mkdir "$ROOT$1"
    CREATED_DIRS="$CREATED_DIRS $1"
}

# Carries over the directories an earlier run made (listed in its uninstaller).
remember_created_dirs() {
    previous="$ROOT$BIN_DIR/k3rs-uninstall.sh"
    [ -f "$previous" ] || return 0
    dirs=$(sed -n "s/^CREATED_DIRS='\(.*\)'$/\1/p" "$previous")
    CREATED_DIRS="$dirs"
}

writable_dir() {
    probe="$ROOT$1/.k3rs-write-test.$$"
    if touch "$probe" 2>/dev/null; then
        rm -f "$probe"
        return 0
    fi
    return 1
}

setup_bin_dir() {
    if [ -n "${INSTALL_K3RS_BIN_DIR:-}" ]; then
        BIN_DIR="$INSTALL_K3RS_BIN_DIR"
        return
    fi
    BIN_DIR=/usr/local/bin
    # Find the first existing ancestor and see whether it takes writes: on
    # openSUSE Leap Micro and other image-based systems /usr is read-only.
    dir=$BIN_DIR
    while [ ! -d "$ROOT$dir" ]; do dir=$(dirname "$dir"); done
    if ! writable_dir "$dir"; then
        BIN_DIR=/opt/bin
        info "$dir is read-only; installing to $BIN_DIR"
    fi
}

setup_paths() {
    setup_bin_dir
    SYSTEMD_DIR="${INSTALL_K3RS_SYSTEMD_DIR:-/etc/systemd/system}"
    remember_created_dirs
}

# --- what to run -----------------------------------------------------------

# One argument for a systemd command line: `%` and `$` escaped (systemd expands
# them), quoted when it has spaces or other special characters.
quote_arg() {
    escaped=$(printf '%s' "$1" | sed -e 's/%/%%/g' -e 's/\$/$$/g')
    case "$1" in
        "" | *[!A-Za-z0-9_./:=,@+-]*) printf "'%s'" "$escaped" ;;
        *) printf '%s' "$escaped" ;;
    esac
}

setup_command() {
    # INSTALL_K3RS_EXEC's words (split on spaces; globbing is off), then the
    # script's arguments.
    # shellcheck disable=SC2086
    set -- ${INSTALL_K3RS_EXEC:-} "$@"
    case "${1:-}" in
        server | agent)
            CMD="$1"
            shift
            ;;
        *)
            if [ -n "${K3RS_URL:-}" ]; then CMD=agent; else CMD=server; fi
            ;;
    esac
    ARGS=""
    for arg in "$@"; do
        case "$arg" in
            *\'* | *\\* | *"
"*) fatal "arguments with quotes, backslashes or newlines are not supported in the unit: $arg" ;;
        esac
        ARGS="$ARGS $(quote_arg "$arg")"
    done
    if [ -n "${K3RS_URL:-}" ]; then
        case "$K3RS_URL" in
            https://*) ;;
            *) fatal "K3RS_URL must be an https:// URL, got $K3RS_URL" ;;
        esac
    fi
    if [ "$CMD" = agent ]; then
        [ -n "${K3RS_URL:-}" ] || fatal "an agent needs K3RS_URL (the server to join)"
        if [ -z "${K3RS_TOKEN:-}" ] && [ -z "${K3RS_TOKEN_FILE:-}" ]; then
            fatal "an agent needs K3RS_TOKEN or K3RS_TOKEN_FILE (on a server: /var/lib/rancher/k3rs/server/token)"
        fi
        SERVICE=k3rs-agent
        DESCRIPTION_ROLE=agent
    else
        SERVICE=k3rs
        DESCRIPTION_ROLE=server
    fi
    UNIT_FILE="$SYSTEMD_DIR/$SERVICE.service"
    ENV_FILE="$SYSTEMD_DIR/$SERVICE.service.env"
}

# --- the binary ------------------------------------------------------------

detect_arch() {
    case "$(uname -m)" in
        x86_64 | amd64) ARCH=x86_64 ;;
        aarch64 | arm64) ARCH=aarch64 ;;
        *) fatal "unsupported architecture $(uname -m): k3rs is built for x86_64 and aarch64" ;;
    esac
}

download() {
    dest="$1"
    url="$2"
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL -o "$dest" "$url"
    elif command -v wget >/dev/null 2>&1; then
        wget -qO "$dest" "$url"
    else
        fatal "neither curl nor wget is installed to download $url"
    fi
}

find_binary() {
    if [ -n "${INSTALL_K3RS_BINARY:-}" ]; then
        [ -f "$INSTALL_K3RS_BINARY" ] || fatal "INSTALL_K3RS_BINARY $INSTALL_K3RS_BINARY does not exist"
        SOURCE_BINARY="$INSTALL_K3RS_BINARY"
        return
    fi
    if [ -n "${INSTALL_K3RS_DOWNLOAD_URL:-}" ]; then
        TMP_DIR=$(mktemp -d)
        trap 'rm -rf "$TMP_DIR"' EXIT
        info "Downloading $INSTALL_K3RS_DOWNLOAD_URL"
        download "$TMP_DIR/k3rs" "$INSTALL_K3RS_DOWNLOAD_URL"
        if [ -n "${INSTALL_K3RS_SHA256:-}" ]; then
            actual=$(sha256sum "$TMP_DIR/k3rs" | cut -d' ' -f1)
            [ "$actual" = "$INSTALL_K3RS_SHA256" ] || fatal "the download's sha256 is $actual, expected $INSTALL_K3RS_SHA256"
        fi
        SOURCE_BINARY="$TMP_DIR/k3rs"
        return
    fi
    script_dir=$(cd "$(dirname "$0")" 2>/dev/null && pwd || echo .)
    for candidate in "$script_dir/k3rs-$ARCH" "$script_dir/k3rs"; do
        if [ -f "$candidate" ]; then
            SOURCE_BINARY="$candidate"
            return
        fi
    done
    fatal "no k3rs binary: set INSTALL_K3RS_BINARY=/path/to/k3rs, put k3rs-$ARCH beside this script, or set INSTALL_K3RS_DOWNLOAD_URL"
}

# Every directory the installation needs, made before the uninstaller is written
# so that it lists them.
make_dirs() {
    ensure_dir "$BIN_DIR"
    ensure_dir "$SYSTEMD_DIR"
    if ! is_true "${INSTALL_K3RS_SKIP_ENABLE:-}" && ! systemd_running; then
        ensure_dir "$SYSTEMD_DIR/multi-user.target.wants"
    fi
}

install_binary() {
    target="$ROOT$BIN_DIR/k3rs"
    if [ -f "$target" ] && cmp -s "$SOURCE_BINARY" "$target"; then
        info "$BIN_DIR/k3rs is up to date"
    else
        info "Installing k3rs to $BIN_DIR/k3rs"
        # Copy beside the target and rename: a running k3rs keeps its old file.
        cp "$SOURCE_BINARY" "$target.tmp.$$"
        chmod 755 "$target.tmp.$$"
        mv -f "$target.tmp.$$" "$target"
    fi
    if [ -z "$ROOT" ]; then
        "$target" --version >/dev/null || fatal "$BIN_DIR/k3rs does not run on this machine (wrong architecture?)"
    fi
}

# --- containerd and runc ---------------------------------------------------

os_release_field() {
    file="$ROOT/etc/os-release"
    [ -f "$file" ] || file="$ROOT/usr/lib/os-release"
    [ -f "$file" ] || return 0
    sed -n "s/^$1=//p" "$file" | tr -d '"'"'" | head -n 1
}

# Same rules as `k3rs check-config`.
detect_package_manager() {
    id=$(os_release_field ID)
    id_like=" $(os_release_field ID_LIKE) "
    case "$id" in
        opensuse-leap-micro | opensuse-microos | sle-micro | sl-micro)
            PKG=transactional-update
            return
            ;;
    esac
    case " $id $id_like " in
        *" debian "* | *" ubuntu "*) PKG=apt ;;
        *" suse "* | *" opensuse"* | *" sles "*) PKG=zypper ;;
        *" fedora "* | *" rhel "*) PKG=dnf ;;
        *) PKG="" ;;
    esac
}

have_program() {
    if [ -z "$ROOT" ]; then
        command -v "$1" >/dev/null 2>&1 && return 0
    fi
    for dir in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
        [ -x "$ROOT$dir/$1" ] && return 0
    done
    return 1
}

NEED_REBOOT=""
install_dependencies() {
    if is_true "${INSTALL_K3RS_SKIP_DEPS:-}"; then
        info "Skipping containerd and runc (INSTALL_K3RS_SKIP_DEPS)"
        return
    fi
    packages=""
    have_program containerd && have_program containerd-shim-runc-v2 || packages="containerd"
    have_program runc || packages="$packages runc"
    packages="${packages# }"
    if [ -z "$packages" ]; then
        info "containerd and runc are installed"
        return
    fi
    detect_package_manager
    info "Installing $packages"
    case "$PKG" in
        apt)
            run_host env DEBIAN_FRONTEND=noninteractive apt-get update -qq
            # shellcheck disable=SC2086 # a list of package names
            run_host env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages
            ;;
        zypper)
            # shellcheck disable=SC2086
            run_host zypper --non-interactive install $packages
            ;;
        transactional-update)
            # The packages land in a new snapshot, active after a reboot.
            # shellcheck disable=SC2086
            run_host transactional-update --non-interactive pkg install $packages
            NEED_REBOOT=1
            ;;
        dnf)
            # shellcheck disable=SC2086
            run_host dnf install -y $packages
            ;;
        *)
            warn "unknown distribution: install $packages yourself (the agent needs them)"
            ;;
    esac
}

# --- SELinux ---------------------------------------------------------------

# k3rs's paths get the labels container-selinux gives K3s's (deploy/selinux/k3rs.fc).
SELINUX_CONTEXTS="
container_runtime_exec_t	BIN_DIR/k3rs
container_var_lib_t	/var/lib/rancher/k3rs(/.*)?
container_ro_file_t	/var/lib/rancher/k3rs/agent/containerd/[^/]*/snapshots(/.*)?
container_var_lib_t	/var/lib/rancher/k3rs/agent/containerd/[^/]*/sandboxes(/.*)?
container_file_t	/var/lib/rancher/k3rs/agent/containerd/[^/]*/snapshots/[^/]*/.*
container_log_t	/var/lib/rancher/k3rs/agent/containerd/containerd.log
container_var_run_t	/run/k3rs(/.*)?
kubernetes_file_t	/etc/rancher/k3rs(/.*)?
"

setup_selinux() {
    [ -z "$ROOT" ] || return 0
    if [ ! -f /sys/fs/selinux/enforce ]; then
        return 0
    fi
    if ! command -v semanage >/dev/null 2>&1; then
        warn "SELinux is enabled but semanage is missing: install policycoreutils-python-utils, then run this installer again (see docs/selinux.md)"
        return 0
    fi
    info "Labelling k3rs's paths for SELinux"
    echo "$SELINUX_CONTEXTS" | sed "s|BIN_DIR|$BIN_DIR|" | while IFS="	" read -r type path; do
        [ -n "$type" ] || continue
        semanage fcontext -a -t "$type" "$path" 2>/dev/null || semanage fcontext -m -t "$type" "$path"
    done
    restorecon -R "$BIN_DIR/k3rs" /var/lib/rancher/k3rs /etc/rancher/k3rs /run/k3rs 2>/dev/null || true
}

# --- the unit --------------------------------------------------------------

write_env_file() {
    info "Writing $ENV_FILE"
    (
        umask 077
        # Every K3RS_ variable, as k3rs reads them; quoted for systemd.
        env | grep '^K3RS_' | LC_ALL=C sort | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/=\(.*\)/="\1"/' \
            >"$ROOT$ENV_FILE.tmp.$$" || true
        mv -f "$ROOT$ENV_FILE.tmp.$$" "$ROOT$ENV_FILE"
    )
}

# The unit text; deploy/k3rs.service and deploy/k3rs-agent.service are this
# function's output with the default settings (a test keeps them equal).
unit_text() {
    if [ "$CMD" = agent ]; then
        header="# k3rs agent: kubelet over containerd, joined to a server with K3RS_URL and
# K3RS_TOKEN. Installed by deploy/install.sh; see docs/high-availability.md."
        ready="# k3rs sends READY=1 once the node is registered."
    else
        header="# k3rs server: API server, datastore and controllers (and, once available, the
# built-in agent). Installed by deploy/install.sh; see docs/quick-start.md."
        ready="# k3rs sends READY=1 once the API server answers."
    fi
    cat <<EOF
$header
[Unit]
Description=k3rs - lightweight Kubernetes ($DESCRIPTION_ROLE)
Documentation=https://github.com/k3rs-io/k3rs/tree/main/docs
Wants=network-online.target
After=network-online.target

[Install]
WantedBy=multi-user.target

[Service]
$ready
Type=notify
EnvironmentFile=-/etc/default/%N
EnvironmentFile=-/etc/sysconfig/%N
EnvironmentFile=-$ENV_FILE
# Containers belong to the runtime, not to this unit: stopping or restarting
# k3rs must leave running pods alone, and k3rs manages their cgroups itself.
KillMode=process
Delegate=yes
User=root
# Per-process resource limits would be charged to every container; cgroups
# account for them instead.
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
# The first start creates certificates and the datastore; never time it out.
TimeoutStartSec=0
Restart=always
RestartSec=5s
ExecStartPre=-/sbin/modprobe br_netfilter
ExecStartPre=-/sbin/modprobe overlay
ExecStart=$BIN_DIR/k3rs $CMD$ARGS
EOF
}

write_unit() {
    info "Writing $UNIT_FILE"
    unit_text >"$ROOT$UNIT_FILE.tmp.$$"
    mv -f "$ROOT$UNIT_FILE.tmp.$$" "$ROOT$UNIT_FILE"
}

systemd_running() {
    [ -z "$ROOT" ] && [ -d /run/systemd/system ]
}

start_service() {
    if is_true "${INSTALL_K3RS_SKIP_ENABLE:-}"; then
        info "Not enabling $SERVICE (INSTALL_K3RS_SKIP_ENABLE)"
        return
    fi
    if systemd_running; then
        systemctl daemon-reload
        systemctl enable "$SERVICE" >/dev/null
    else
        # What `systemctl enable` does for WantedBy=multi-user.target, without a
        # running systemd (images, containers, INSTALL_K3RS_ROOT).
        ln -sfn "$UNIT_FILE" "$ROOT$SYSTEMD_DIR/multi-user.target.wants/$SERVICE.service"
        info "Enabled $SERVICE (multi-user.target.wants)"
    fi
    if [ -n "$NEED_REBOOT" ]; then
        warn "containerd and runc were installed into a new snapshot: reboot to activate it; $SERVICE starts on boot"
        return
    fi
    if is_true "${INSTALL_K3RS_SKIP_START:-}"; then
        info "Not starting $SERVICE (INSTALL_K3RS_SKIP_START); start it with: systemctl start $SERVICE"
        return
    fi
    if systemd_running; then
        info "Starting $SERVICE"
        systemctl restart "$SERVICE"
    else
        echo "[WOULD] systemctl restart $SERVICE"
        [ -n "$ROOT" ] || warn "systemd is not running here: start k3rs with $BIN_DIR/k3rs $CMD$ARGS"
    fi
}

# --- killall and uninstall -------------------------------------------------

write_killall() {
    info "Writing $BIN_DIR/k3rs-killall.sh"
    {
        echo '#!/bin/sh'
        echo '# Stops k3rs and everything it started: containers, mounts, network state.'
        echo '# Generated by install.sh; data is kept (k3rs-uninstall.sh removes it).'
        echo "ROOT='$ROOT'"
        echo "BIN_DIR='$BIN_DIR'"
        cat <<'EOF'
set -x

[ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || exec sudo "$0" "$@"

if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
    for service in k3rs k3rs-agent; do
        systemctl stop "$service" 2>/dev/null
    done
fi

# The processes of k3rs and of the containerd it runs (socket and state under
# /run/k3rs), with every descendant: container shims and the containers.
k3rs_pids() {
    for dir in /proc/[0-9]*; do
        pid=${dir#/proc/}
        exe=$(readlink "$dir/exe" 2>/dev/null)
        if [ "$exe" = "$BIN_DIR/k3rs" ]; then
            echo "$pid"
            continue
        fi
        if tr '\0' ' ' <"$dir/cmdline" 2>/dev/null | grep -q '/run/k3rs/containerd'; then
            echo "$pid"
        fi
    done
}

descendants() {
    for child in $(grep -l "^PPid:[[:space:]]*$1\$" /proc/[0-9]*/status 2>/dev/null | cut -d/ -f3); do
        echo "$child"
        descendants "$child"
    done
}

if [ -z "$ROOT" ]; then
    pids=$(k3rs_pids)
    all=""
    for pid in $pids; do
        all="$all $pid $(descendants "$pid")"
    done
    [ -z "$all" ] || kill -9 $all 2>/dev/null
fi

# Mounts under k3rs's directories, deepest first.
unmount_under() {
    prefix="$1"
    awk -v p="$prefix" '$2 == p || index($2, p "/") == 1 { print $2 }' /proc/self/mounts | sort -r | uniq |
        while read -r mount; do
            umount -f "$mount" 2>/dev/null || umount -l "$mount"
        done
}
for dir in /run/k3rs /var/lib/rancher/k3rs /var/lib/kubelet/pods /var/lib/kubelet/plugins /run/netns/k3rs-; do
    unmount_under "$ROOT$dir"
done

if [ -z "$ROOT" ]; then
    # Pod network namespaces, the node's bridge and its veths, nftables tables.
    if command -v ip >/dev/null 2>&1; then
        for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^k3rs-'); do
            ip netns delete "$ns"
        done
        for link in $(ip -o link show master k3rs0 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
            ip link delete "$link"
        done
        ip link show k3rs0 >/dev/null 2>&1 && ip link delete k3rs0
    fi
    if command -v nft >/dev/null 2>&1; then
        nft list tables 2>/dev/null | while read -r _ family name; do
            case "$name" in k3rs*) nft delete table "$family" "$name" ;; esac
        done
    fi
    rm -rf /run/k3rs
else
    echo "[SKIPPED] processes and network state belong to the running machine, not to $ROOT"
    rm -rf "$ROOT/run/k3rs"
fi
EOF
    } >"$ROOT$BIN_DIR/k3rs-killall.sh.tmp.$$"
    chmod 755 "$ROOT$BIN_DIR/k3rs-killall.sh.tmp.$$"
    mv -f "$ROOT$BIN_DIR/k3rs-killall.sh.tmp.$$" "$ROOT$BIN_DIR/k3rs-killall.sh"
}

write_uninstall() {
    info "Writing $BIN_DIR/k3rs-uninstall.sh"
    {
        echo '#!/bin/sh'
        echo '# Removes k3rs: services, binary, data, configuration, mounts and network'
        echo '# state. Generated by install.sh. containerd and runc packages stay.'
        echo "ROOT='$ROOT'"
        echo "BIN_DIR='$BIN_DIR'"
        echo "SYSTEMD_DIR='$SYSTEMD_DIR'"
        echo "CREATED_DIRS='${CREATED_DIRS# }'"
        cat <<'EOF'
set -x

[ -n "$ROOT" ] || [ "$(id -u)" = 0 ] || exec sudo "$0" "$@"

"$ROOT$BIN_DIR/k3rs-killall.sh"

for service in k3rs k3rs-agent; do
    if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
        systemctl disable "$service" 2>/dev/null
    fi
    rm -f "$ROOT$SYSTEMD_DIR/multi-user.target.wants/$service.service" \
        "$ROOT$SYSTEMD_DIR/$service.service" \
        "$ROOT$SYSTEMD_DIR/$service.service.env"
done
if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl reset-failed k3rs k3rs-agent 2>/dev/null
fi

if [ -z "$ROOT" ] && command -v semanage >/dev/null 2>&1; then
    semanage fcontext -l -C 2>/dev/null | awk '/k3rs/ {print $1}' | while read -r path; do
        semanage fcontext -d "$path"
    done
fi

rm -rf "$ROOT/etc/rancher/k3rs" "$ROOT/var/lib/rancher/k3rs" "$ROOT/run/k3rs" "$ROOT/var/lib/kubelet"
for dir in "$ROOT/etc/rancher" "$ROOT/var/lib/rancher"; do
    rmdir "$dir" 2>/dev/null
done

rm -f "$ROOT$BIN_DIR/k3rs" "$ROOT$BIN_DIR/k3rs-killall.sh" "$ROOT$BIN_DIR/k3rs-uninstall.sh"
# Directories the installer made, deepest first, if nothing else lives there.
for dir in $(echo "$CREATED_DIRS" | tr ' ' '\n' | sort -r); do
    rmdir "$ROOT$dir" 2>/dev/null
done
true
EOF
    } >"$ROOT$BIN_DIR/k3rs-uninstall.sh.tmp.$$"
    chmod 755 "$ROOT$BIN_DIR/k3rs-uninstall.sh.tmp.$$"
    mv -f "$ROOT$BIN_DIR/k3rs-uninstall.sh.tmp.$$" "$ROOT$BIN_DIR/k3rs-uninstall.sh"
}

# --- main ------------------------------------------------------------------

main() {
    setup_root
    setup_paths
    setup_command "$@"
    detect_arch
    find_binary
    install_dependencies
    make_dirs
    # The uninstaller first, so that a failure further on can be undone.
    write_killall
    write_uninstall
    install_binary
    write_env_file
    write_unit
    setup_selinux
    start_service
    info "k3rs $CMD installed: $BIN_DIR/k3rs, $UNIT_FILE"
}

main "$@"
