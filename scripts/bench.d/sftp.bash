# Sourced by scripts/bench: timed SFTP transfers with the CPU time of both sides, and the tables made of them.
#
# A "place" names where a transfer happens and which server instances it uses:
#   lo     loopback, files in /dev/shm, nacre's client is bench_client (the table issue 8 started)
#   priv   loopback as lo, nacre serve's default against --run-as root (issue 18)
#   disk   loopback, files on a disk file system (page cache), nacre's client is the `nacre sftp` program
#   link   the emulated link (link.bash): servers in namespace A, clients in B, files in /dev/shm, `nacre sftp`
# PLACE_ROOT[place] is the servers' folder (nacre serve's --root; sshd takes absolute paths), PLACE_LOCAL[place]
# the client's. Servers are registered by add_server under "place,name" (name: sshd, nacre, nacre-root).
# Results: RATE (best MiB/s) or SECS (best seconds), CCPU and SCPU (lowest CPU seconds per GiB of the client's
# and the server's process trees), each keyed "scenario,client,server,cipher,op".

CLK_TCK=$(getconf CLK_TCK)
declare -A SRV_PID SRV_PORT SRV_HOST SRV_DIR PLACE_ROOT PLACE_LOCAL RATE SECS CCPU SCPU

# add_server PLACE NAME PID PORT HOST REMOTE_DIR
add_server() {
    SRV_PID[$1,$2]=$3 SRV_PORT[$1,$2]=$4 SRV_HOST[$1,$2]=$5 SRV_DIR[$1,$2]=$6
    cg_add "$3"
}

# The servers' CPU time: each server process goes into a cgroup of its own (cgroup v2: its cpu.stat counts every
# process in it, running or exited, whether or not its parent reaps it: sshd's privileged monitor exits without
# waiting for the session's process, so /proc/PID/stat's cutime of the listener would miss sftp-server's time).
# Without a cgroup v2 mount, the listener's /proc/PID/stat (utime + stime + cutime + cstime) stands in.
CG_ROOT=""
if CG_MOUNT=$(findmnt -n -t cgroup2 -o TARGET | head -1) && [ -n "$CG_MOUNT" ] &&
    mkdir "$CG_MOUNT/nacre-bench-$$" 2>/dev/null; then
    CG_ROOT="$CG_MOUNT/nacre-bench-$$"
fi

# cg_add PID: PID (and what it starts from now on) into its own cgroup.
cg_add() {
    if [ -n "$CG_ROOT" ]; then
        mkdir -p "$CG_ROOT/pid$1"
        echo "$1" >"$CG_ROOT/pid$1/cgroup.procs"
    fi
}

# Kills what is left in the cgroups and removes them (cleanup).
cg_remove() {
    local d i
    [ -n "$CG_ROOT" ] && [ -d "$CG_ROOT" ] || return 0
    for d in "$CG_ROOT"/pid*; do
        [ -d "$d" ] || continue
        if [ -e "$d/cgroup.kill" ]; then echo 1 >"$d/cgroup.kill" 2>/dev/null || true; fi
        for i in $(seq 1 100); do
            [ -z "$(cat "$d/cgroup.procs" 2>/dev/null)" ] && break
            sleep 0.05
        done
        rmdir "$d" 2>/dev/null || log "could not remove $d"
    done
    rmdir "$CG_ROOT" 2>/dev/null || log "could not remove $CG_ROOT"
}

# CPU seconds (user + system) so far of server $1 and everything it started.
server_cpu() {
    if [ -n "$CG_ROOT" ]; then
        awk '/^usage_usec/ { print $2 / 1e6 }' "$CG_ROOT/pid$1/cpu.stat"
    else
        awk -v t="$CLK_TCK" '{ sub(/^.*\) /, ""); print ($12 + $13 + $14 + $15) / t }' "/proc/$1/stat"
    fi
}

# Waits (at most 10 s) until server $1's per-connection processes are gone (sshd), so their time is counted.
wait_children() {
    local i p left
    for i in $(seq 1 200); do
        left=0
        if [ -n "$CG_ROOT" ]; then
            for p in $(cat "$CG_ROOT/pid$1/cgroup.procs"); do
                if [ "$p" != "$1" ] && [ "$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$p/stat" 2>/dev/null)" != Z ] &&
                    [ -e "/proc/$p" ]; then left=1; fi
            done
        else
            pgrep -P "$1" >/dev/null && left=1
        fi
        [ "$left" -eq 0 ] && return 0
        sleep 0.05
    done
    log "server $1 still has per-connection processes after 10 s: its CPU time may be short"
}

# The client command for CLIENT (openssh, nacre: the nacre program) in CMD.
client_cmd() {
    local client=$1 host=$2 port=$3 cipher=$4 batch=$5
    case "$client" in
        openssh) CMD=(sftp "${SSH_OPTS[@]}" -q -c "$cipher" -P "$port" -b "$batch" "$USER_NAME@$host") ;;
        nacre) CMD=("$NACRE" sftp "${SSH_OPTS[@]}" -q -c "$cipher" -P "$port" -b "$batch" "$USER_NAME@$host") ;;
    esac
}

# run_timed PLACE SERVER_PID COMMAND...: runs the client (in namespace B for the link) and sets T_WALL, T_CCPU,
# T_SCPU (seconds) and T_RC.
run_timed() {
    local place=$1 spid=$2 s0 s1
    shift 2
    local pre=()
    if [ "$place" = link ]; then pre=(ip netns exec "$LINK_NS_B"); fi
    s0=$(server_cpu "$spid")
    "${pre[@]}" python3 "$REPO/scripts/bench.d/timed.py" "$WORK/timed" "$@" >/dev/null 2>"$WORK/client.err" || true
    wait_children "$spid"
    s1=$(server_cpu "$spid")
    read -r T_WALL T_CCPU T_RC <"$WORK/timed"
    T_SCPU=$(python3 -c "print(f'{$s1 - $s0:.3f}')")
    if [ "$T_RC" != 0 ]; then log "client exited with $T_RC: $(tail -3 "$WORK/client.err")"; fi
}

# record SCENARIO,CLIENT,SERVER,CIPHER,OP BYTES: keeps the best rate and time and the lowest CPU per GiB of
# the transfer just timed; a failed or wrong transfer records 0 MiB/s (and an infinite time).
record() {
    local k=$1 bytes=$2 ok=$3 rate secs cc sc
    if [ "$ok" -eq 1 ]; then
        read -r rate secs cc sc < <(python3 -c "
b, w = $bytes, $T_WALL
print(f'{b / 1048576 / w:.1f} {w:.2f} {$T_CCPU / (b / 2**30):.2f} {$T_SCPU / (b / 2**30):.2f}')")
    else
        rate=0 secs=inf cc=inf sc=inf
    fi
    RATE[$k]=$(best "$rate" "${RATE[$k]:-0}" True)
    SECS[$k]=$(best "$secs" "${SECS[$k]:-inf}" False)
    CCPU[$k]=$(best "$cc" "${CCPU[$k]:-inf}" False)
    SCPU[$k]=$(best "$sc" "${SCPU[$k]:-inf}" False)
    log "$k: $rate MiB/s, $secs s, CPU per GiB client $cc s, server $sc s"
}

# best NEW OLD True|False: NEW if it is higher (True) or lower (False) than OLD, else OLD.
best() { python3 -c "a, b = float('$1'), float('$2'); print('$1' if ($3 and a > b) or (not $3 and a < b) else '$2')"; }

# xfer_file SCENARIO PLACE CLIENT SERVER CIPHER OP RUN: one transfer of PLACE_ROOT/big.bin (size SIZE_OF_FILE);
# the result's size is checked every time and its bytes against the source in run 1.
xfer_file() {
    local scen=$1 place=$2 client=$3 server=$4 cipher=$5 op=$6 run=$7
    local root=${PLACE_ROOT[$place]} local_dir=${PLACE_LOCAL[$place]} rdir=${SRV_DIR[$place,$server]}
    local port=${SRV_PORT[$place,$server]} host=${SRV_HOST[$place,$server]} spid=${SRV_PID[$place,$server]}
    local src dst got ok=1
    if [ "$op" = get ]; then
        src="$rdir/big.bin" dst="$local_dir/got.bin" got="$local_dir/got.bin"
    else
        src="$root/big.bin" dst="$rdir/put.bin" got="$root/put.bin"
    fi
    rm -f "$got"
    if { [ "$place" = lo ] || [ "$place" = priv ]; } && [ "$client" = nacre ]; then
        run_timed "$place" "$spid" "$CLIENT" --port "$port" "${CLIENT_OPTS[@]}" --cipher "$cipher" "$op" "$src" "$dst"
    else
        printf '%s %s %s\n' "$op" "$src" "$dst" >"$WORK/batch"
        client_cmd "$client" "$host" "$port" "$cipher" "$WORK/batch"
        run_timed "$place" "$spid" "${CMD[@]}"
    fi
    local size
    size=$(stat -c %s "$got" 2>/dev/null || echo 0)
    if [ "$T_RC" != 0 ] || [ "$size" -ne "$SIZE_OF_FILE" ]; then
        log "$scen $client -> $server $op $cipher: exit $T_RC, $size bytes instead of $SIZE_OF_FILE"
        ok=0
    elif [ "$run" -eq 1 ] && ! cmp -s "$root/big.bin" "$got"; then
        log "$scen $client -> $server $op $cipher: the bytes differ from the source"
        ok=0
    fi
    rm -f "$got"
    record "$scen,$client,$server,$cipher,$op" "$SIZE_OF_FILE" "$ok"
}

# xfer_tree SCENARIO PLACE CLIENT SERVER CIPHER OP RUN: get -r or put -r of PLACE_ROOT/tree (TREE_BYTES in
# TREE_FILES files); the copy is compared with the source (diff -r) every time.
xfer_tree() {
    local scen=$1 place=$2 client=$3 server=$4 cipher=$5 op=$6 run=$7
    local root=${PLACE_ROOT[$place]} local_dir=${PLACE_LOCAL[$place]} rdir=${SRV_DIR[$place,$server]}
    local src dst got ok=1
    if [ "$op" = get ]; then
        src="$rdir/tree" dst="$local_dir/tree-got" got="$local_dir/tree-got"
    else
        src="$root/tree" dst="$rdir/tree-put" got="$root/tree-put"
    fi
    rm -rf "$got"
    printf '%s -r %s %s\n' "$op" "$src" "$dst" >"$WORK/batch"
    client_cmd "$client" "${SRV_HOST[$place,$server]}" "${SRV_PORT[$place,$server]}" "$cipher" "$WORK/batch"
    run_timed "$place" "${SRV_PID[$place,$server]}" "${CMD[@]}"
    if [ "$T_RC" != 0 ] || ! diff -rq "$root/tree" "$got" >"$WORK/diff" 2>&1; then
        log "$scen $client -> $server $op -r: exit $T_RC, $(wc -l <"$WORK/diff") differences ($(head -2 "$WORK/diff"))"
        ok=0
    fi
    rm -rf "$got"
    record "$scen,$client,$server,$cipher,$op" "$TREE_BYTES" "$ok"
}

PAIRS=("openssh sshd" "openssh nacre" "nacre sshd" "nacre nacre")
# pair_name CLIENT SERVER CLIENT_LABEL
pair_name() {
    local c s
    c=$([ "$1" = openssh ] && echo "OpenSSH sftp" || echo "$3")
    s=$([ "$2" = sshd ] && echo "sshd" || echo "nacre serve")
    echo "$c <-> $s"
}

ratio() { python3 -c "print(f'{$1 / max($2, 1e-9):.2f}')"; }
# The ratio of OpenSSH's time to this one (how many times faster), "—" when either failed.
speedup() { python3 -c "a, b = float('$1'), float('$2'); print('—' if a == float('inf') or b == float('inf') else f'{a / b:.2f}')"; }

# file_tables SCENARIO NACRE_CLIENT_LABEL CIPHER...: MiB/s with the ratio to OpenSSH <-> OpenSSH, then CPU
# seconds per GiB of server and client.
file_tables() {
    local scen=$1 label=$2 cipher op pair client server row base k
    shift 2
    local head="| cipher | op |" rule="| --- | --- |"
    for pair in "${PAIRS[@]}"; do
        read -r client server <<<"$pair"
        head="$head $(pair_name "$client" "$server" "$label") |" rule="$rule --- |"
    done
    emit "$head"
    emit "$rule"
    for cipher in "$@"; do
        for op in get put; do
            base=${RATE[$scen,openssh,sshd,$cipher,$op]:-0}
            row="| \`$cipher\` | $op |"
            for pair in "${PAIRS[@]}"; do
                read -r client server <<<"$pair"
                k="$scen,$client,$server,$cipher,$op"
                if [ "$pair" = "openssh sshd" ]; then row="$row ${RATE[$k]:-—} |"
                else row="$row ${RATE[$k]:-—} ($(ratio "${RATE[$k]:-0}" "$base")×) |"; fi
            done
            emit "$row"
        done
    done
    emit ""
    emit "CPU seconds per GiB moved, server / client (the lowest of the runs):"
    emit ""
    emit "$head"
    emit "$rule"
    for cipher in "$@"; do
        for op in get put; do
            row="| \`$cipher\` | $op |"
            for pair in "${PAIRS[@]}"; do
                read -r client server <<<"$pair"
                k="$scen,$client,$server,$cipher,$op"
                row="$row ${SCPU[$k]:-—} / ${CCPU[$k]:-—} |"
            done
            emit "$row"
        done
    done
    emit ""
}

# file_scenario SCENARIO PLACE RUNS CIPHER...: every pair, get and put, RUNS times.
file_scenario() {
    local scen=$1 place=$2 runs=$3 run cipher pair client server op
    shift 3
    for run in $(seq 1 "$runs"); do
        for cipher in "$@"; do
            for pair in "${PAIRS[@]}"; do
                read -r client server <<<"$pair"
                for op in get put; do
                    xfer_file "$scen" "$place" "$client" "$server" "$cipher" "$op" "$run"
                done
            done
        done
    done
}

# make_file PATH BYTES: random bytes, owned by the SFTP user.
make_file() {
    head -c "$2" /dev/urandom >"$1"
    chown "$USER_NAME" "$1"
}
