# Sourced by scripts/bench: the emulated long-distance link (issue 21). Two network namespaces joined by
# linkemu (scripts/bench.d/linkemu.c, compiled into target/bench/): servers in LINK_NS_A at LINK_ADDR_A, clients
# in LINK_NS_B at LINK_ADDR_B. Nothing is routed outside them. link_down removes everything link_up made.
# Needs: log, WORK, OUT (scripts/bench).

LINK_NS_A="nacre-bench-a-$$"
LINK_NS_B="nacre-bench-b-$$"
LINK_ADDR_A=10.77.0.1
LINK_ADDR_B=10.77.0.2
LINK_PID=""
LINK_UP=0
# The one-way delay, rate and loss the link has now (link_set).
LINK_DELAY_US=0
LINK_RATE=0
LINK_LOSS_PPM=0
# TCP buffers in both namespaces: 64 MiB covers 1 Gbit/s at 100 ms RTT (12.5 MB) plus the 50 ms queue, with
# the receive side's overhead (tcp_adv_win_scale). The host's 4 MiB send buffer would cap one stream at
# ~62 MiB/s at 50 ms.
LINK_TCP_MAX=$((64 * 1024 * 1024))
LINK_QUEUE_US=50000

# Compiles linkemu into $OUT when its source is newer.
link_build() {
    local src="$REPO/scripts/bench.d/linkemu.c"
    LINKEMU="$OUT/linkemu"
    if [ ! -x "$LINKEMU" ] || [ "$src" -nt "$LINKEMU" ]; then
        gcc -O2 -Wall -Wextra -o "$LINKEMU" "$src"
    fi
}

# link_up DELAY_US RATE_BIT_S LOSS_PPM: namespaces, linkemu at real-time priority, addresses, TCP settings.
link_up() {
    local delay=$1 rate=$2 loss=$3 ns i
    link_build
    ip netns add "$LINK_NS_A"
    ip netns add "$LINK_NS_B"
    LINK_UP=1
    for ns in "$LINK_NS_A" "$LINK_NS_B"; do
        ip -n "$ns" link set lo up
        ip netns exec "$ns" sysctl -q -w "net.ipv4.tcp_wmem=4096 16384 $LINK_TCP_MAX" \
            "net.ipv4.tcp_rmem=4096 131072 $LINK_TCP_MAX" "net.ipv4.tcp_congestion_control=$LINK_CC"
    done
    rm -f "$WORK/link.ctl" "$WORK/link.out"
    mkfifo "$WORK/link.ctl"
    chrt -f 10 "$LINKEMU" "$LINK_NS_A" lnk "$LINK_NS_B" lnk "$delay" "$rate" "$LINK_QUEUE_US" "$loss" \
        "${BENCH_SEED:-1}" <"$WORK/link.ctl" >"$WORK/link.out" 2>&1 &
    LINK_PID=$!
    exec 8>"$WORK/link.ctl"
    for i in $(seq 1 100); do
        grep -q '^ready' "$WORK/link.out" && break
        kill -0 "$LINK_PID" 2>/dev/null || { log "linkemu: $(cat "$WORK/link.out")"; return 1; }
        sleep 0.05
    done
    ip -n "$LINK_NS_A" addr add "$LINK_ADDR_A/32" peer "$LINK_ADDR_B" dev lnk
    ip -n "$LINK_NS_B" addr add "$LINK_ADDR_B/32" peer "$LINK_ADDR_A" dev lnk
    ip -n "$LINK_NS_A" link set lnk up
    ip -n "$LINK_NS_B" link set lnk up
    LINK_DELAY_US=$delay LINK_RATE=$rate LINK_LOSS_PPM=$loss
}

# link_set DELAY_US RATE_BIT_S LOSS_PPM: new parameters for the running link (waits for linkemu's "ok").
link_set() {
    local n i
    n=$(grep -c '^ok' "$WORK/link.out" || true)
    echo "$1 $2 $LINK_QUEUE_US $3" >&8
    for i in $(seq 1 100); do
        [ "$(grep -c '^ok' "$WORK/link.out" || true)" -gt "$n" ] && break
        sleep 0.02
    done
    LINK_DELAY_US=$1 LINK_RATE=$2 LINK_LOSS_PPM=$3
    sleep 0.2
}

link_down() {
    if [ -n "$LINK_PID" ]; then
        exec 8>&- || true
        kill "$LINK_PID" 2>/dev/null || true
        wait "$LINK_PID" 2>/dev/null || true
        sed 's/^/[bench] linkemu: /' "$WORK/link.out" | grep -v 'ready\|ok$' >&2 || true
        LINK_PID=""
    fi
    if [ "$LINK_UP" -eq 1 ]; then
        ip netns delete "$LINK_NS_A" 2>/dev/null || true
        ip netns delete "$LINK_NS_B" 2>/dev/null || true
        LINK_UP=0
    fi
}

in_a() { ip netns exec "$LINK_NS_A" "$@"; }
in_b() { ip netns exec "$LINK_NS_B" "$@"; }

# A free TCP port on LINK_ADDR_A inside namespace A.
link_free_port() {
    in_a python3 -c "import socket; s=socket.socket(); s.bind(('$LINK_ADDR_A',0)); print(s.getsockname()[1])"
}

# link_wait_port PORT: until something listens on LINK_ADDR_A:PORT (asked from namespace A, no link delay).
link_wait_port() {
    local i
    for i in $(seq 1 200); do
        if in_a bash -c "exec 3<>/dev/tcp/$LINK_ADDR_A/$1" 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    log "nothing listens on $LINK_ADDR_A:$1"
    return 1
}

# link_measure: ping RTT (ms, average of 5) and one TCP stream's rate B -> A and A -> B (MiB/s, 512 MiB each
# way, python sockets); prints "RTT UP DOWN".
link_measure() {
    local rtt up down port
    rtt=$(in_b ping -q -c 5 -i 0.2 "$LINK_ADDR_A" | sed -n 's|^rtt[^=]*= [0-9.]*/\([0-9.]*\)/.*|\1|p')
    up=$(link_stream B)
    down=$(link_stream A)
    echo "$rtt $up $down"
}

# link_stream FROM: MiB/s of 512 MiB sent from namespace FROM (A or B) to the other over one TCP connection,
# timed by the receiver from the first byte to the sender's close (after the connection is up).
link_stream() {
    local from=$1 out="$WORK/link.stream" rx_ns rx_addr tx_ns port i
    if [ "$from" = B ]; then
        rx_ns=$LINK_NS_A rx_addr=$LINK_ADDR_A tx_ns=$LINK_NS_B
    else
        rx_ns=$LINK_NS_B rx_addr=$LINK_ADDR_B tx_ns=$LINK_NS_A
    fi
    rm -f "$out"
    ip netns exec "$rx_ns" python3 - "$rx_addr" >"$out" <<'PY' &
import socket, sys, time
s = socket.socket(); s.bind((sys.argv[1], 0)); s.listen(1); s.settimeout(60)
print(s.getsockname()[1], flush=True)
c, _ = s.accept(); c.settimeout(300); buf = bytearray(1 << 20); n = 0; t0 = None
while True:
    k = c.recv_into(buf)
    if t0 is None: t0 = time.monotonic()
    if not k: break
    n += k
print(f"{n / 1048576 / (time.monotonic() - t0):.1f}")
PY
    local rpid=$!
    for i in $(seq 1 200); do
        port=$(head -1 "$out" 2>/dev/null || true)
        [ -n "$port" ] && break
        sleep 0.05
    done
    ip netns exec "$tx_ns" python3 - "$rx_addr" "$port" <<'PY' || log "link_stream: the sender failed"
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=60)
b = bytes(1 << 20)
for _ in range(512): c.sendall(b)
c.close()
PY
    wait "$rpid" || true
    sed -n 2p "$out"
}
