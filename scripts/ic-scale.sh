#!/usr/bin/env bash
# A generated interconnect cluster for the zone benchmarks: N zones, each one node's Northbound
# as OVN-Kubernetes writes it in IC mode (ovn_cluster_router, the node switch with PODS pods,
# join, GR_<node> with a per-pod SNAT, ext_<node> with a localnet port, transit_switch with the
# node's router port and one remote port per other node, two ic-node routes per other node),
# each served by its own real ovsdb-server on a unix socket. No northd or Southbound: the
# questions benchmarked (which zone holds an address and which NAT rule applies; the logical
# topology of the whole cluster) are Northbound questions.
#
#   scripts/ic-scale.sh up N PODS [DIR]   build (or restart) and serve; writes DIR/cluster
#   scripts/ic-scale.sh down [DIR]        stop the servers (by pidfile PID), remove DIR
#
# DIR defaults to /tmp/ovnscope-ic-scale/N-PODS. Node k (1-based) has node id k+1, subnet
# 10.<128 + (k*2)/256>.<(k*2)%256>.0/23 and pods .10 upward; info.json names a pod of the last
# zone (the worst case for a zone-by-zone search).
set -euo pipefail

cmd=${1:?usage: $0 up N PODS [DIR] | down [DIR]}

stop() {
    local dir=$1 f p
    [ -d "$dir" ] || return 0
    for f in "$dir"/*/nb.pid; do
        [ -f "$f" ] || continue
        p=$(cat "$f")
        [ -r "/proc/$p/comm" ] && [ "$(cat "/proc/$p/comm")" = ovsdb-server ] && kill -TERM "$p" 2>/dev/null || true
    done
}

if [ "$cmd" = down ]; then
    dir=${2:-}
    [ -n "$dir" ] || { echo "usage: $0 down DIR" >&2; exit 2; }
    stop "$dir"
    rm -rf "$dir"
    exit 0
fi

n=${2:?N}; pods=${3:?PODS}
dir=${4:-/tmp/ovnscope-ic-scale/$n-$pods}
mkdir -p "$dir"
node() { printf 'node-%03d' "$1"; }
subnet_base() { local k=$1 v=$(( $1 * 2 )); echo "10.$(( 128 + v / 256 )).$(( v % 256 ))"; }
hexid() { printf '%02x:%02x' $(( ($1 + 1) / 256 )) $(( ($1 + 1) % 256 )); }

serve() {
    local z=$1 d=$dir/$1
    ovsdb-server "$d/nb.db" --remote="punix:$d/nb.sock" --pidfile="$d/nb.pid" --unixctl="$d/nb.ctl" \
        --log-file="$d/nb.log" -vconsole:off --detach --no-chdir 2>/dev/null
}

build_zone() {
    local k=$1 z; z=$(node "$1")
    local d=$dir/$z id=$(( k + 1 )) base; base=$(subnet_base "$k")
    mkdir -p "$d"
    rm -f "$d/nb.db"
    ovsdb-tool create "$d/nb.db" /usr/share/ovn/ovn-nb.ovsschema
    serve "$z"
    local c=(--db="unix:$d/nb.sock" --timeout=120)
    local a=(init -- set NB_Global . name="$z" options:name="$z"
        -- lr-add ovn_cluster_router -- ls-add join
        -- lrp-add ovn_cluster_router rtoj-ovn_cluster_router 0a:58:64:40:00:01 100.64.0.1/16
        -- lsp-add join jtor-ovn_cluster_router -- lsp-set-type jtor-ovn_cluster_router router
        -- lsp-set-addresses jtor-ovn_cluster_router router -- lsp-set-options jtor-ovn_cluster_router router-port=rtoj-ovn_cluster_router
        -- ls-add "$z" -- set Logical_Switch "$z" other_config:subnet="$base.0/23"
        -- lrp-add ovn_cluster_router "rtos-$z" "0a:58:$(hexid "$k"):01:01" "$base.1/23"
        -- lsp-add "$z" "stor-$z" -- lsp-set-type "stor-$z" router -- lsp-set-addresses "stor-$z" router
        -- lsp-set-options "stor-$z" router-port="rtos-$z"
        -- lr-add "GR_$z" -- set Logical_Router "GR_$z" options:chassis="$z"
        -- lrp-add "GR_$z" "rtoj-GR_$z" "0a:58:64:40:$(hexid "$k")" "100.64.$(( id / 256 )).$(( id % 256 ))/16"
        -- lsp-add join "jtor-GR_$z" -- lsp-set-type "jtor-GR_$z" router -- lsp-set-addresses "jtor-GR_$z" router
        -- lsp-set-options "jtor-GR_$z" router-port="rtoj-GR_$z"
        -- ls-add "ext_$z"
        -- lrp-add "GR_$z" "rtoe-GR_$z" "52:54:01:$(hexid "$k"):09" "172.20.$(( id / 256 )).$(( id % 256 ))/16"
        -- lsp-add "ext_$z" "etor-GR_$z" -- lsp-set-type "etor-GR_$z" router -- lsp-set-addresses "etor-GR_$z" router
        -- lsp-set-options "etor-GR_$z" router-port="rtoe-GR_$z"
        -- lsp-add "ext_$z" "br-ex_$z" -- lsp-set-type "br-ex_$z" localnet -- lsp-set-addresses "br-ex_$z" unknown
        -- lsp-set-options "br-ex_$z" network_name=physnet
        -- lr-route-add "GR_$z" 0.0.0.0/0 172.20.0.1 "rtoe-GR_$z"
        -- lr-route-add "GR_$z" 10.128.0.0/14 100.64.0.1
        -- --policy=src-ip lr-route-add ovn_cluster_router "$base.0/23" "100.64.$(( id / 256 )).$(( id % 256 ))"
        -- ls-add transit_switch -- set Logical_Switch transit_switch other_config:interconn-ts=transit_switch other_config:requested-tnl-key=16711683
        -- lrp-add ovn_cluster_router "rtots-$z" "0a:58:64:58:$(hexid "$k")" "100.88.$(( id / 256 )).$(( id % 256 ))/16"
        -- lsp-add transit_switch "tstor-$z" -- lsp-set-type "tstor-$z" router -- lsp-set-addresses "tstor-$z" router
        -- lsp-set-options "tstor-$z" router-port="rtots-$z" requested-tnl-key="$id")
    local p ip lsp third fourth
    for p in $(seq 1 "$pods"); do
        third=$(( ${base##*.} + (p + 9) / 256 )); fourth=$(( (p + 9) % 256 ))
        ip="${base%.*}.$third.$fourth"
        lsp="ns$(( p % 20 ))_pod-$z-$p"
        # shellcheck disable=SC2086
        a+=(-- lsp-add "$z" "$lsp" -- lsp-set-addresses "$lsp" "$(printf '0a:58:%02x:%02x:%02x:%02x' ${ip//./ }) $ip"
            -- lr-nat-add "GR_$z" snat "172.20.$(( id / 256 )).$(( id % 256 ))" "$ip")
    done
    local m mid mbase
    for m in $(seq 1 "$n"); do
        [ "$m" = "$k" ] && continue
        mid=$(( m + 1 )); mbase=$(subnet_base "$m")
        local mz; mz=$(node "$m")
        a+=(-- lsp-add transit_switch "tstor-$mz" -- lsp-set-type "tstor-$mz" remote
            -- lsp-set-addresses "tstor-$mz" "0a:58:64:58:$(hexid "$m") 100.88.$(( mid / 256 )).$(( mid % 256 ))/16"
            -- lsp-set-options "tstor-$mz" requested-tnl-key="$mid" requested-chassis="$mz"
            -- lr-route-add ovn_cluster_router "$mbase.0/23" "100.88.$(( mid / 256 )).$(( mid % 256 ))"
            -- lr-route-add ovn_cluster_router "100.64.$(( mid / 256 )).$(( mid % 256 ))/32" "100.88.$(( mid / 256 )).$(( mid % 256 ))")
    done
    ovn-nbctl "${c[@]}" "${a[@]}" >/dev/null
}

if [ -f "$dir/info.json" ]; then
    stop "$dir"
    for k in $(seq 1 "$n"); do serve "$(node "$k")"; done
else
    stop "$dir"
    start=$(date +%s.%N)
    # Zones are independent: build them a few at a time.
    for k in $(seq 1 "$n"); do
        build_zone "$k" &
        if (( k % 4 == 0 )); then wait; fi
    done
    wait
    last=$(node "$n"); lbase=$(subnet_base "$n")
    cat >"$dir/info.json" <<EOF
{"zones": $n, "pods_per_zone": $pods, "last_zone": "$last", "last_pod_ip": "${lbase}.10", "seconds": $(awk "BEGIN{print $(date +%s.%N) - $start}")}
EOF
fi
{
    echo "# generated interconnect cluster: $n zones x $pods pods"
    for k in $(seq 1 "$n"); do z=$(node "$k"); echo "$z nb=unix:$dir/$z/nb.sock"; done
} >"$dir/cluster"
echo "$dir"
