# Sourced by scripts/bench: the scenarios issue 21 added: files on a disk file system over loopback, and the
# emulated long-distance link (a: one large file at 50 ms RTT, b: the same with loss, c: a tree of many files,
# and the get at several RTTs drawn as an SVG). Needs sftp.bash and link.bash.

# disk_scenario: a BENCH_DISK_SIZE file between folders on a disk file system (page cache), both ciphers, every
# pair; nacre's client is the `nacre sftp` program.
disk_scenario() {
    local fs
    DISK=$(mktemp -d /var/tmp/nacre-bench-disk.XXXXXX)
    chmod 755 "$DISK"
    mkdir -p "$DISK/root" "$DISK/client"
    chown "$USER_NAME" "$DISK/root"
    PLACE_ROOT[disk]="$DISK/root" PLACE_LOCAL[disk]="$DISK/client"
    fs=$(findmnt -n -o FSTYPE -T "$DISK" || stat -f -c %T "$DISK")
    local port
    port=$(free_port)
    NACRE_SERVE_ROOT="$DISK/root" start_nacre "$port"
    local dpid=$LAST_PID
    add_server disk nacre "$dpid" "$port" 127.0.0.1 ""
    add_server disk sshd "$SSHD_PID" "$SSHD_PORT" 127.0.0.1 "$DISK/root"
    log "writing a $DISK_SIZE_SPEC test file on $fs"
    SIZE_OF_FILE=$(numfmt --from=iec "$DISK_SIZE_SPEC")
    make_file "$DISK/root/big.bin" "$SIZE_OF_FILE"
    sync
    file_scenario disk disk "$RUNS" "${CIPHERS[@]}"
    emit "### SFTP between files on a disk file system ($fs, page cache): $DISK_SIZE_SPEC file, MiB/s (best of $RUNS), ratio to OpenSSH sftp <-> sshd"
    emit ""
    file_tables disk "nacre sftp" "${CIPHERS[@]}"
    local cipher op base
    for cipher in "${CIPHERS[@]}"; do
        for op in get put; do
            base=${RATE[disk,openssh,sshd,$cipher,$op]}
            target 21 "disk (page cache), $op, \`$cipher\`: nacre sftp <-> nacre serve vs OpenSSH <-> OpenSSH" \
                "$(ratio "${RATE[disk,nacre,nacre,$cipher,$op]}" "$base")" 2 min
            target 21 "disk (page cache), $op, \`$cipher\`: OpenSSH sftp <-> nacre serve vs OpenSSH sftp <-> sshd" \
                "$(ratio "${RATE[disk,openssh,nacre,$cipher,$op]}" "$base")" 1.2 min
        done
    done
    emit "Clients: OpenSSH \`sftp -c CIPHER -b batch\`, the \`nacre sftp\` program with the same options. Source and destination on $fs under /var/tmp (the file read from the page cache, the copy written into it), loopback; as the first table otherwise."
    emit ""
    stop "$dpid"
    rm -rf "$DISK"
    DISK=""
}

# The link rate in MiB/s (what 100 % of the link is).
link_mib_s() { python3 -c "print(f'{$RATE_MBIT * 1e6 / 8 / 1048576:.1f}')"; }

# link_note: one line on what the link measured just now (ping, one TCP stream each way).
link_note() {
    local rtt up down
    read -r rtt up down < <(link_measure)
    LINK_NOTE="measured just before, ping RTT $rtt ms; one TCP stream (python sockets, 512 MiB) $up MiB/s client → server and $down MiB/s server → client, of $(link_mib_s) MiB/s raw"
    log "$LINK_NOTE"
    LAST_STREAM_DOWN=$down
}

# tree_make DIR: the tree of BENCH_FILES ("COUNTxSIZE ..."): one folder per group, random bytes, owned by the
# SFTP user; sets TREE_FILES and TREE_BYTES.
tree_make() {
    local dir=$1 group count size bytes i
    TREE_FILES=0 TREE_BYTES=0
    mkdir -p "$dir"
    for group in $FILES_SPEC; do
        count=${group%%x*} size=${group#*x}
        bytes=$(numfmt --from=iec "$size")
        mkdir -p "$dir/$group"
        head -c $((count * bytes)) /dev/urandom | split -a 5 -d -b "$bytes" - "$dir/$group/f"
        TREE_FILES=$((TREE_FILES + count)) TREE_BYTES=$((TREE_BYTES + count * bytes))
    done
    chown -R "$USER_NAME" "$dir"
}

# tree_tables: seconds per put -r / get -r, how many times faster than OpenSSH <-> OpenSSH, files per second,
# CPU per GiB.
tree_tables() {
    local head="| op |" rule="| --- |" row pair client server k base op
    for pair in "${PAIRS[@]}"; do
        read -r client server <<<"$pair"
        head="$head $(pair_name "$client" "$server" "nacre sftp") |" rule="$rule --- |"
    done
    emit "$head"
    emit "$rule"
    for op in put get; do
        base=${SECS[tree,openssh,sshd,$LINK_CIPHER,$op]:-inf}
        row="| $op -r |"
        for pair in "${PAIRS[@]}"; do
            read -r client server <<<"$pair"
            k="tree,$client,$server,$LINK_CIPHER,$op"
            row="$row ${SECS[$k]:-—} s, $(python3 -c "s = float('${SECS[$k]:-inf}'); print(f'{$TREE_FILES / s:.1f}')") files/s"
            if [ "$pair" != "openssh sshd" ]; then row="$row ($(speedup "$base" "${SECS[$k]:-inf}")×)"; fi
            row="$row |"
        done
        emit "$row"
    done
    emit ""
    emit "CPU seconds per GiB moved, server / client:"
    emit ""
    emit "$head"
    emit "$rule"
    for op in put get; do
        row="| $op -r |"
        for pair in "${PAIRS[@]}"; do
            read -r client server <<<"$pair"
            k="tree,$client,$server,$LINK_CIPHER,$op"
            row="$row ${SCPU[$k]:-—} / ${CCPU[$k]:-—} |"
        done
        emit "$row"
    done
    emit ""
}

# rtt_sweep: the get at every RTT of BENCH_RTTS, every pair; the table and the SVG (gnuplot).
rtt_sweep() {
    local rtt pair client server run data="$OUT/bench-rtt.dat" head="| pair |" rule="| --- |" row
    declare -A STREAM
    for rtt in $RTTS; do
        link_set $((rtt * 500)) $((RATE_MBIT * 1000000)) 0
        link_note
        STREAM[$rtt]=$LAST_STREAM_DOWN
        for run in $(seq 1 "$LINK_RUNS"); do
            for pair in "${PAIRS[@]}"; do
                read -r client server <<<"$pair"
                xfer_file "rtt$rtt" link "$client" "$server" "$LINK_CIPHER" get "$run"
            done
        done
        head="$head $rtt ms |" rule="$rule --- |"
    done
    emit "### SFTP get of a $LINK_SIZE_SPEC file against the round-trip time: MiB/s (best of $LINK_RUNS), $RATE_MBIT Mbit/s, \`$LINK_CIPHER\`"
    emit ""
    emit "$head"
    emit "$rule"
    printf 'rtt_ms' >"$data"
    for pair in "${PAIRS[@]}"; do
        read -r client server <<<"$pair"
        row="| $(pair_name "$client" "$server" "nacre sftp") |"
        for rtt in $RTTS; do row="$row ${RATE[rtt$rtt,$client,$server,$LINK_CIPHER,get]} |"; done
        emit "$row"
        printf ' "%s"' "$(pair_name "$client" "$server" "nacre sftp" | sed 's/<->/↔/')" >>"$data"
    done
    row="| one TCP stream (python sockets, no SSH) |"
    for rtt in $RTTS; do row="$row ${STREAM[$rtt]} |"; done
    emit "$row"
    printf ' "one TCP stream (no SSH)"\n' >>"$data"
    for rtt in $RTTS; do
        printf '%s' "$rtt" >>"$data"
        for pair in "${PAIRS[@]}"; do
            read -r client server <<<"$pair"
            printf ' %s' "${RATE[rtt$rtt,$client,$server,$LINK_CIPHER,get]}" >>"$data"
        done
        printf ' %s\n' "${STREAM[$rtt]}" >>"$data"
    done
    emit ""
    gnuplot -e "data='$data'; out='$OUT/bench-rtt.svg'; linkrate=$(link_mib_s); title='SFTP get of a $LINK_SIZE_SPEC file over an emulated $RATE_MBIT Mbit/s link ($LINK_CIPHER)'" \
        "$REPO/scripts/bench.d/rtt.gp"
    emit "![MiB/s against RTT for the four client/server pairs](bench-rtt.svg)"
    emit ""
    emit "The picture (docs/bench-rtt.svg) is drawn by gnuplot from this table (scripts/bench.d/rtt.gp)."
    emit ""
}

# link_scenarios: the link up, its servers in namespace A, then scenarios a, b, c and the RTT sweep; the link
# and its servers removed.
link_scenarios() {
    local rate=$((RATE_MBIT * 1000000)) loss_ppm port spid1 spid2
    loss_ppm=$(python3 -c "print(round($LOSS_PCT * 10000))")
    log "emulated link: namespaces $LINK_NS_A, $LINK_NS_B; linkemu at 50 ms RTT, $RATE_MBIT Mbit/s"
    link_up 25000 "$rate" 0
    port=$(link_free_port)
    start_sshd "$port" "$LINK_ADDR_A" "$LINK_NS_A"
    spid1=$LAST_PID
    add_server link sshd "$LAST_PID" "$port" "$LINK_ADDR_A" "$ROOT"
    port=$(link_free_port)
    NACRE_ADDR=$LINK_ADDR_A NACRE_NS=$LINK_NS_A start_nacre "$port"
    spid2=$LAST_PID
    add_server link nacre "$LAST_PID" "$port" "$LINK_ADDR_A" ""
    SIZE_OF_FILE=$(numfmt --from=iec "$LINK_SIZE_SPEC")
    local linkmib
    linkmib=$(link_mib_s)
    if ! skipped link || ! skipped loss || ! skipped rtt; then
        log "writing a $LINK_SIZE_SPEC test file"
        make_file "$ROOT/big.bin" "$SIZE_OF_FILE"
    fi
    if ! skipped link; then
        link_note
        file_scenario link link "$LINK_RUNS" "$LINK_CIPHER"
        emit "### a) SFTP over an emulated link, 50 ms RTT, $RATE_MBIT Mbit/s: $LINK_SIZE_SPEC file, MiB/s (best of $LINK_RUNS), ratio to OpenSSH sftp <-> sshd"
        emit ""
        file_tables link "nacre sftp" "$LINK_CIPHER"
        emit "Link: $LINK_NOTE. Servers in one network namespace, clients (OpenSSH \`sftp -b\`, \`nacre sftp -b\`) in another, joined by scripts/bench.d/linkemu.c (25 ms each way, $RATE_MBIT Mbit/s each way, a 50 ms bottleneck queue, at real-time priority); TCP buffers up to 64 MiB, congestion control $LINK_CC. Files in /dev/shm."
        emit ""
        local op base
        for op in get put; do
            base=${RATE[link,openssh,sshd,$LINK_CIPHER,$op]}
            target 21 "50 ms RTT, $op: nacre sftp <-> nacre serve, share of the link rate ($linkmib MiB/s)" \
                "$(python3 -c "print(f'{100 * ${RATE[link,nacre,nacre,$LINK_CIPHER,$op]} / $linkmib:.0f}')")" 80 min " %"
            target 21 "50 ms RTT, $op: nacre sftp <-> nacre serve vs OpenSSH <-> OpenSSH" \
                "$(ratio "${RATE[link,nacre,nacre,$LINK_CIPHER,$op]}" "$base")" 2.5 min
            target 21 "50 ms RTT, $op: nacre sftp <-> sshd vs OpenSSH <-> OpenSSH" \
                "$(ratio "${RATE[link,nacre,sshd,$LINK_CIPHER,$op]}" "$base")" 2 min
        done
    fi
    if ! skipped loss; then
        link_set 25000 "$rate" "$loss_ppm"
        link_note
        file_scenario loss link "$LINK_RUNS" "$LINK_CIPHER"
        emit "### b) The same at $LOSS_PCT % loss each way: $LINK_SIZE_SPEC file, MiB/s (best of $LINK_RUNS), ratio to OpenSSH sftp <-> sshd"
        emit ""
        file_tables loss "nacre sftp" "$LINK_CIPHER"
        emit "Link: $LINK_NOTE. linkemu drops each IP packet with probability $LOSS_PCT % (seeded), in both directions; with loss on it takes frames of one MTU from the kernel (no TSO), so a loss is one packet."
        emit ""
        link_set 25000 "$rate" 0
    fi
    if ! skipped rtt; then
        rtt_sweep
        link_set 25000 "$rate" 0
    fi
    rm -f "$ROOT/big.bin"
    if ! skipped tree; then
        log "making the tree ($FILES_SPEC)"
        tree_make "$ROOT/tree"
        link_note
        local run pair client server op
        for run in $(seq 1 "$LINK_RUNS"); do
            for pair in "${PAIRS[@]}"; do
                read -r client server <<<"$pair"
                for op in put get; do
                    xfer_tree tree link "$client" "$server" "$LINK_CIPHER" "$op" "$run"
                done
            done
        done
        emit "### c) A tree over the link, 50 ms RTT: $TREE_FILES files ($FILES_SPEC, $((TREE_BYTES / 1048576)) MiB), put -r and get -r, seconds (best of $LINK_RUNS), files per second, how many times as fast as OpenSSH sftp <-> sshd"
        emit ""
        tree_tables
        emit "Link: $LINK_NOTE. \`put -r\` and \`get -r\` of one folder holding a folder per group (\`2000x8K\`: 2 000 files of 8 KiB), one command each, the copy compared with the source (\`diff -r\`)."
        emit ""
        for op in put get; do
            for server in sshd nacre; do
                target 21 "tree at 50 ms RTT, $op -r: nacre sftp <-> $([ "$server" = sshd ] && echo sshd || echo "nacre serve") vs OpenSSH sftp <-> sshd (times as fast)" \
                    "$(speedup "${SECS[tree,openssh,sshd,$LINK_CIPHER,$op]:-inf}" "${SECS[tree,nacre,$server,$LINK_CIPHER,$op]:-inf}" | sed 's/—/0/')" 20 min
            done
        done
        rm -rf "$ROOT/tree"
    fi
    stop "$spid1"
    stop "$spid2"
    link_down
}
