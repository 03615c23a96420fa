#!/bin/sh
# xfleet agent installer, served by the controller's agent gateway at /install.sh with its
# address and key pin filled in. Run as the install line shows:
#   (curl -fsSL -k --pinnedpubkey 'sha256//PIN' https://HOST:PORT/install.sh || echo "…exit 1") | sh -s -- --token xft1_...
# Options: --token TOKEN   the one-time enrollment token (required unless already enrolled)
#          --prefix DIR    install under DIR instead of / (needs --no-service)
#          --no-service    install and enroll, start nothing
# Everything is downloaded from the controller only, over TLS trusted by the pin alone.
set -eu

GATEWAY_URL=@GATEWAY_URL@
KEY_PIN=@KEY_PIN@

say() { printf 'xfleet install: %s\n' "$*"; }
die() {
    printf 'xfleet install: error: %s\n' "$*" >&2
    exit 1
}

# All in one function, run on the last line: a download cut short runs nothing.
main() {
    token=
    prefix=/
    service=yes
    while [ $# -gt 0 ]; do
        case $1 in
        --token)
            [ $# -ge 2 ] || die "--token needs a value"
            token=$2
            shift 2
            ;;
        --token=*)
            token=${1#--token=}
            shift
            ;;
        --prefix)
            [ $# -ge 2 ] || die "--prefix needs a folder"
            prefix=$2
            shift 2
            ;;
        --prefix=*)
            prefix=${1#--prefix=}
            shift
            ;;
        --no-service)
            service=no
            shift
            ;;
        -h | --help)
            echo "usage: sh install.sh --token TOKEN [--prefix DIR --no-service]"
            exit 0
            ;;
        *) die "unknown option '$1' (options: --token TOKEN, --prefix DIR, --no-service)" ;;
        esac
    done

    case $prefix in
    /*) ;;
    *) die "--prefix needs an absolute path, not '$prefix'" ;;
    esac
    root=${prefix%/}
    bin_dir=$root/usr/local/bin
    conf_dir=$root/etc/xfleet-agent
    data_dir=$root/var/lib/xfleet-agent
    unit_file=/etc/systemd/system/xfleet-agent.service

    # Run again on an enrolled host: change nothing.
    if [ -f "$conf_dir/agent.toml" ]; then
        server=$(sed -n 's/^server_id *= *//p' "$conf_dir/agent.toml")
        url=$(sed -n 's/^controller_url *= *"\(.*\)"$/\1/p' "$conf_dir/agent.toml")
        say "already enrolled as server ${server:-?} with ${url:-?} ($conf_dir/agent.toml); nothing changed"
        exit 0
    fi

    # Everything that can be known before writing anything is checked first.
    [ -n "$token" ] || die "--token is required (create one with: xfleet token create --server NAME)"
    case $(uname -m) in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) die "unsupported architecture '$(uname -m)': xfleet agents are built for x86_64 and aarch64" ;;
    esac
    command -v curl >/dev/null 2>&1 || die "curl is needed to download the agent; install it first"
    command -v sha256sum >/dev/null 2>&1 || die "sha256sum is needed to check the agent; install coreutils first"
    if [ "$service" = yes ]; then
        [ "$root" = "" ] || die "a service is installed only with the default prefix; add --no-service to install under $prefix"
        [ -d /run/systemd/system ] || die "this host does not run systemd; install with --no-service and start '$bin_dir/xfleet-agent run' under your own supervisor"
        [ "$(id -u)" = 0 ] || die "installing the service needs root; run the same line with 'sudo sh -s --' instead of 'sh -s --'"
    fi

    stage=$(mktemp -d "${TMPDIR:-/tmp}/xfleet-install.XXXXXX") || die "cannot make a temporary folder"
    trap 'rm -rf "$stage"' EXIT
    trap 'exit 1' HUP INT TERM

    # GET a path of the gateway into a file; the controller's own words on failure.
    fetch() {
        code=0
        status=$(curl -sS -k --pinnedpubkey "sha256//$KEY_PIN" --connect-timeout 20 \
            -o "$2" -w '%{http_code}' "$GATEWAY_URL$1" 2>"$stage/curl.err") || code=$?
        if [ "$code" = 90 ]; then
            die "the controller at $GATEWAY_URL did not present the key this install line pins: it was made by another controller, or something between this host and it intercepts TLS. Copy a fresh line from the panel or 'xfleet token create'."
        fi
        [ "$code" = 0 ] || die "cannot reach $GATEWAY_URL: $(cat "$stage/curl.err")"
        [ "$status" = 200 ] || die "$GATEWAY_URL$1 answered HTTP $status: $(head -c 300 "$2")"
    }

    say "downloading the $arch agent from $GATEWAY_URL"
    fetch "/v1/agent/latest/$arch.sha256" "$stage/agent.sha256"
    fetch "/v1/agent/latest/$arch" "$stage/xfleet-agent"
    want=$(cut -d ' ' -f 1 "$stage/agent.sha256")
    got=$(sha256sum "$stage/xfleet-agent" | cut -d ' ' -f 1)
    if [ -z "$want" ] || [ "$want" != "$got" ]; then
        die "the downloaded agent's SHA-256 is $got, the controller announced '$want'; nothing was installed"
    fi
    chmod 0755 "$stage/xfleet-agent"
    version=$("$stage/xfleet-agent" --version 2>&1) ||
        die "the downloaded agent does not run here ($version); if ${TMPDIR:-/tmp} is mounted noexec, set TMPDIR to a folder that allows programs"

    # Enroll into the temporary folder: a refused token leaves nothing behind. The data folder
    # is named as it will be used; the agent creates it only once the certificate is issued.
    if ! "$stage/xfleet-agent" --config-dir "$stage/etc" enroll --token "$token" \
        --data-dir "$data_dir" >"$stage/enroll.out" 2>&1; then
        if grep -q '^error: ' "$stage/enroll.out"; then
            sed -n 's/^error: //p' "$stage/enroll.out" >&2
        else
            cat "$stage/enroll.out" >&2
        fi
        die "enrollment failed; nothing was installed"
    fi

    if [ "$service" = yes ]; then
        if ! id xfleet-agent >/dev/null 2>&1; then
            nologin=$(command -v nologin || echo /usr/sbin/nologin)
            useradd --system --user-group --no-create-home --home-dir /nonexistent \
                --shell "$nologin" xfleet-agent ||
                die "cannot create the system user xfleet-agent"
        fi
    fi

    # Move into place: the binary, then the enrollment (agent.toml last: it marks the host enrolled).
    mkdir -p "$bin_dir"
    cp "$stage/xfleet-agent" "$bin_dir/.xfleet-agent.new"
    mv -f "$bin_dir/.xfleet-agent.new" "$bin_dir/xfleet-agent"
    mkdir -p "$conf_dir"
    chmod 0700 "$conf_dir"
    for file in agent.key agent.pem ca.pem agent.toml; do
        cp -p "$stage/etc/$file" "$conf_dir/.$file.new"
        mv -f "$conf_dir/.$file.new" "$conf_dir/$file"
    done
    server=$(sed -n 's/^server_id *= *//p' "$conf_dir/agent.toml")
    say "installed $version as $bin_dir/xfleet-agent, enrolled as server $server"

    if [ "$service" = no ]; then
        say "start it with: $bin_dir/xfleet-agent --config-dir $conf_dir run"
        exit 0
    fi

    chown -R xfleet-agent:xfleet-agent "$conf_dir" "$data_dir"
    cat >"$unit_file.new" <<'XFLEET_UNIT'
@UNIT@
XFLEET_UNIT
    mv -f "$unit_file.new" "$unit_file"
    systemctl daemon-reload
    systemctl enable --now xfleet-agent.service
    say "xfleet-agent.service is running; see 'systemctl status xfleet-agent' and 'xfleet-agent status'"
}

main "$@"
