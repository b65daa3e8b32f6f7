#!/usr/bin/env python3
"""Learn an SSH server's Mealy machine with AALpy through `nacre learn-adapter` (docs/LEARNING.md).

    scripts/learn/aalpy_learn.py --nacre target/debug/nacre --dot model.dot -- --memory
    scripts/learn/aalpy_learn.py --dot sshd.dot -- -p 2222 --user peer --password peerpass 127.0.0.1

Everything after `--` is passed to `nacre learn-adapter`. The learner is KV with a random-walk
W-method equivalence oracle whose budget is bounded (--walks-per-state, --walk-len) and seeded
(--seed), so a run's length is bounded and repeatable. With --check FILE the learned machine is
compared with the table between `<!-- model:begin -->` and `<!-- model:end -->` in FILE by a walk of
the product automaton; a difference is printed with the shortest input sequence that shows it and
the exit status is 1.
"""

import argparse
import random
import subprocess
import sys
import time
from collections import deque

from aalpy.base import SUL
from aalpy.learning_algs import run_KV
from aalpy.oracles import RandomWMethodEqOracle

# The alphabet docs/LEARNING.md documents nacre serve's model over.
DEFAULT_ALPHABET = [
    "KEXINIT", "KEX_ECDH_INIT", "NEWKEYS", "SERVICE_REQUEST_AUTH", "UA_PW_OK", "CH_OPEN",
    "CH_REQUEST_PTY", "CH_CLOSE", "IGNORE", "DISCONNECT",
]


class AdapterSUL(SUL):
    """The system under learning: a `nacre learn-adapter` subprocess, one line per step."""

    def __init__(self, command):
        super().__init__()
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.steps = 0

    def ask(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if not answer:
            raise RuntimeError(f"the adapter ended (exit {self.proc.poll()}) after {line!r}")
        if answer.startswith("ERROR"):
            raise RuntimeError(f"{line}: {answer}")
        return answer

    def pre(self):
        self.ask("RESET")

    def post(self):
        pass

    def step(self, letter):
        self.steps += 1
        return self.ask(letter)

    def close(self):
        try:
            self.proc.stdin.write("QUIT\n")
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=10)


def canonical(model, alphabet):
    """The learned machine as {state: {input: (output, next)}}, states named s0, s1, ... in
    breadth-first order from the initial state over the alphabet's order."""
    names = {}
    order = []
    queue = deque([model.initial_state])
    names[model.initial_state.state_id] = "s0"
    while queue:
        s = queue.popleft()
        order.append(s)
        for a in alphabet:
            t = s.transitions[a]
            if t.state_id not in names:
                names[t.state_id] = f"s{len(names)}"
                queue.append(t)
    return {names[s.state_id]: {a: (s.output_fun[a], names[s.transitions[a].state_id])
                                for a in alphabet} for s in order}


def markdown(table, alphabet):
    """The machine as the table format of docs/LEARNING.md."""
    lines = ["| state | " + " | ".join(alphabet) + " |",
             "|---|" + "---|" * len(alphabet)]
    for state, row in table.items():
        cells = [f"{row[a][0]} / {row[a][1]}" for a in alphabet]
        lines.append(f"| {state} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def read_table(path):
    """The documented machine: (alphabet, {state: {input: (output, next)}}), initial = first row."""
    text = open(path, encoding="utf-8").read()
    try:
        body = text.split("<!-- model:begin -->", 1)[1].split("<!-- model:end -->", 1)[0]
    except IndexError:
        sys.exit(f"{path}: no <!-- model:begin --> ... <!-- model:end --> table")
    rows = [r.strip() for r in body.splitlines() if r.strip().startswith("|")]
    cells = [[c.strip().strip("`") for c in r.strip("|").split("|")] for r in rows]
    alphabet = cells[0][1:]
    table = {}
    for row in cells[2:]:
        entries = {}
        for a, cell in zip(alphabet, row[1:]):
            out, _, nxt = cell.rpartition("/")
            entries[a] = (out.strip(), nxt.strip())
        table[row[0]] = entries
    for s, row in table.items():
        for a, (_, nxt) in row.items():
            if nxt not in table:
                sys.exit(f"{path}: state {s}, input {a}: unknown next state {nxt!r}")
    return alphabet, table


def difference(learned, documented, alphabet):
    """The shortest input sequence on which the two machines answer differently, with both
    answers to its last input, or None if they are equivalent (a product-automaton walk)."""
    start = (next(iter(learned)), next(iter(documented)))
    seen = {start: []}
    queue = deque([start])
    while queue:
        pair = queue.popleft()
        word = seen[pair]
        l, d = pair
        for a in alphabet:
            (lo, ln), (do, dn) = learned[l][a], documented[d][a]
            if lo != do:
                return word + [a], lo, do
            nxt = (ln, dn)
            if nxt not in seen:
                seen[nxt] = word + [a]
                queue.append(nxt)
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nacre", default="nacre", help="the nacre program")
    p.add_argument("--alphabet", default=",".join(DEFAULT_ALPHABET),
                   help="comma-separated inputs (default: the documented alphabet)")
    p.add_argument("--dot", help="write the learned model here (Graphviz DOT)")
    p.add_argument("--table", action="store_true", help="print the model as a Markdown table")
    p.add_argument("--check", help="compare with the table in this Markdown file")
    p.add_argument("--seed", type=int, default=1, help="seed of the equivalence oracle")
    p.add_argument("--walks-per-state", type=int, default=20)
    p.add_argument("--walk-len", type=int, default=8)
    p.add_argument("adapter", nargs=argparse.REMAINDER, help="-- then nacre learn-adapter's arguments")
    args = p.parse_args()
    adapter_args = args.adapter[1:] if args.adapter[:1] == ["--"] else args.adapter
    alphabet = [a.strip() for a in args.alphabet.split(",") if a.strip()]
    random.seed(args.seed)

    sul = AdapterSUL([args.nacre, "learn-adapter", *adapter_args])
    started = time.monotonic()
    try:
        oracle = RandomWMethodEqOracle(alphabet, sul, walks_per_state=args.walks_per_state,
                                       walk_len=args.walk_len)
        model = run_KV(alphabet, sul, oracle, "mealy", print_level=0)
    finally:
        sul.close()
    table = canonical(model, alphabet)
    print(f"learned {len(table)} states over {len(alphabet)} inputs in "
          f"{time.monotonic() - started:.1f} s ({sul.steps} steps)")
    if args.dot:
        model.save(args.dot[:-4] if args.dot.endswith(".dot") else args.dot)
    if args.table:
        print(markdown(table, alphabet))
    if args.check:
        doc_alphabet, documented = read_table(args.check)
        if doc_alphabet != alphabet:
            sys.exit(f"{args.check} documents the alphabet {doc_alphabet}, learned {alphabet}")
        diff = difference(table, documented, alphabet)
        if diff:
            word, got, want = diff
            print(f"MISMATCH after {' '.join(word)}: learned {got}, documented {want}")
            sys.exit(1)
        print(f"the learned model matches {args.check} ({len(documented)} documented states)")


if __name__ == "__main__":
    main()
