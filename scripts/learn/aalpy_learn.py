#!/usr/bin/env python3
"""Learn an SSH server's Mealy machine with AALpy through `nacre learn-adapter` (docs/LEARNING.md).

    scripts/learn/aalpy_learn.py --nacre target/debug/nacre --dot model.dot -- --memory
    scripts/learn/aalpy_learn.py --dot sshd.dot -- -p 2222 --user peer --password peerpass 127.0.0.1

Everything after `--` is passed to `nacre learn-adapter`. The learner is KV; its equivalence oracle
first tries seeded random walks (--walks-per-state, --walk-len, --seed), then the Wp-method with
--extra-states: when that finds no counterexample, the learned model is right for any server that
has at most --extra-states more states than the model over this alphabet. The run is bounded and
repeatable. With --check FILE the learned machine is
compared with the table between `<!-- model:begin -->` and `<!-- model:end -->` in FILE by a walk of
the product automaton; a difference is printed with the shortest input sequence that shows it and
the exit status is 1.
"""

import argparse
import random
import re
import subprocess
import sys
import time
from collections import deque
from itertools import chain

from aalpy.base import SUL, Oracle
from aalpy.learning_algs import run_KV
from aalpy.oracles.WpMethodEqOracle import first_phase_it, second_phase_it

# The alphabet docs/LEARNING.md documents nacre serve's model over.
DEFAULT_ALPHABET = [
    "KEXINIT", "KEX_ECDH_INIT", "NEWKEYS", "SERVICE_REQUEST_AUTH", "UA_PW_OK", "CH_OPEN",
    "CH_REQUEST_PTY", "CH_CLOSE", "IGNORE", "DISCONNECT",
]


def ends(letter, output):
    """Whether the connection is over after this step: the adapter answers NO_CONN to every
    later input until RESET (docs/LEARNING.md, "Line protocol")."""
    names = output.split("+")
    return (letter == "DISCONNECT" or output == "NO_CONN" or "DISCONNECT" in names
            or "BAD_PACKET" in names)


class AdapterSUL(SUL):
    """The system under learning: a `nacre learn-adapter` subprocess, one line per step."""

    def __init__(self, command):
        super().__init__()
        self.proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        self.steps = 0
        self.closed = False
        # Every query run so far: {input: (output, {next input: ...})}.
        self.trie = {}

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
        self.closed = False

    def post(self):
        pass

    def step(self, letter):
        self.steps += 1
        # NO_CONN is final until the next RESET (the adapter's contract): no need to ask.
        if self.closed:
            return "NO_CONN"
        answer = self.ask(letter)
        self.closed = answer == "NO_CONN"
        return answer

    def query(self, word):
        """A whole query in one write and one read (a round trip per query, not per step), or no
        query at all when an earlier one shows where the connection ends on the way: after the
        step that closes it every output is NO_CONN until the next RESET (the adapter's
        contract), so the rest of the word needs no asking."""
        self.num_queries += 1
        self.num_steps += len(word)
        known = self.known(word)
        if known is not None:
            return known
        self.steps += len(word)
        self.proc.stdin.write("RESET\n" + "".join(f"{a}\n" for a in word))
        self.proc.stdin.flush()
        answers = [self.proc.stdout.readline().strip() for _ in range(len(word) + 1)]
        for line, answer in zip(["RESET", *word], answers):
            if not answer or answer.startswith("ERROR"):
                raise RuntimeError(f"{line}: {answer or 'the adapter ended'}")
        self.remember(word, answers[1:])
        return answers[1:]

    def known(self, word):
        """The outputs of `word` if earlier queries determine them, else None."""
        node, outputs = self.trie, []
        for i, letter in enumerate(word):
            if letter not in node:
                return None
            out, node = node[letter]
            outputs.append(out)
            if ends(letter, out):
                return outputs + ["NO_CONN"] * (len(word) - i - 1)
        return outputs

    def remember(self, word, outputs):
        node = self.trie
        for letter, out in zip(word, outputs):
            if letter not in node:
                node[letter] = (out, {})
            node = node[letter][1]
            if ends(letter, out):
                return

    def close(self):
        try:
            self.proc.stdin.write("QUIT\n")
            self.proc.stdin.close()
        except OSError:
            pass
        self.proc.wait(timeout=10)


class BoundedOracle(Oracle):
    """Seeded random walks from each state first (cheap, they find most counterexamples), then
    the Wp-method up to `extra` states more than the hypothesis has (exhaustive within that
    bound). Every test is one membership query through the learner's cache."""

    def __init__(self, alphabet, sul, walks_per_state, walk_len, extra):
        super().__init__(alphabet, sul)
        self.walks_per_state = walks_per_state
        self.walk_len = walk_len
        self.extra = extra

    def test(self, hypothesis, word):
        """The prefix of `word` on which the hypothesis and the server differ, or None."""
        outputs = self.sul.query(tuple(word))
        self.num_queries += 1
        self.num_steps += len(word)
        hypothesis.reset_to_initial()
        for i, (letter, out) in enumerate(zip(word, outputs)):
            if hypothesis.step(letter) != out:
                return tuple(word[: i + 1])
        return None

    def walks(self, hypothesis):
        char_set = hypothesis.characterization_set or [()]
        for state in hypothesis.states:
            for _ in range(self.walks_per_state):
                walk = tuple(random.choice(self.alphabet)
                             for _ in range(random.randint(1, self.walk_len)))
                yield state.prefix + walk + random.choice(char_set)

    def find_cex(self, hypothesis):
        if not hypothesis.characterization_set:
            hypothesis.characterization_set = hypothesis.compute_characterization_set()
        for word in self.walks(hypothesis):
            cex = self.test(hypothesis, word)
            if cex:
                return cex
        transition_cover = {s.prefix + (a,) for s in hypothesis.states for a in self.alphabet}
        state_cover = {s.prefix for s in hypothesis.states}
        depth = self.extra + 1
        suite = chain(
            first_phase_it(self.alphabet, state_cover, depth, hypothesis.characterization_set),
            second_phase_it(hypothesis, self.alphabet, transition_cover - state_cover, depth))
        for word in suite:
            cex = self.test(hypothesis, word)
            if cex:
                return cex
        return None


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
    # The markers on lines of their own (the prose may name them).
    found = re.search(r"^<!-- model:begin -->$(.*?)^<!-- model:end -->$", text, re.S | re.M)
    if not found:
        sys.exit(f"{path}: no <!-- model:begin --> ... <!-- model:end --> table")
    body = found.group(1)
    rows = [r.strip() for r in body.splitlines() if r.strip().startswith("|")]
    cells = [[c.strip() for c in r.strip("|").split("|")] for r in rows]
    cells = [[row[0].strip("`"), *row[1:]] for row in cells]
    alphabet = cells[0][1:]
    table = {}
    for row in cells[2:]:
        entries = {}
        for a, cell in zip(alphabet, row[1:]):
            out, _, nxt = cell.rpartition("/")
            entries[a] = (out.strip().strip("`"), nxt.strip().strip("`"))
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
    p.add_argument("--table-out", help="write the learned model as a Markdown table to this file")
    p.add_argument("--against", help="with --check: compare the table of this Markdown file "
                   "instead of learning (no adapter is started)")
    p.add_argument("--seed", type=int, default=1, help="seed of the equivalence oracle")
    p.add_argument("--walks-per-state", type=int, default=20)
    p.add_argument("--walk-len", type=int, default=10)
    p.add_argument("--extra-states", type=int, default=2,
                   help="the Wp-method's bound: states the server may have beyond the model")
    p.add_argument("adapter", nargs=argparse.REMAINDER, help="-- then nacre learn-adapter's arguments")
    args = p.parse_args()
    adapter_args = args.adapter[1:] if args.adapter[:1] == ["--"] else args.adapter
    alphabet = [a.strip() for a in args.alphabet.split(",") if a.strip()]
    random.seed(args.seed)
    if args.against:
        if not args.check:
            sys.exit("--against needs --check")
        alphabet, table = read_table(args.against)
        sys.exit(check(args.check, alphabet, table))

    sul = AdapterSUL([args.nacre, "learn-adapter", *adapter_args])
    started = time.monotonic()
    try:
        oracle = BoundedOracle(alphabet, sul, args.walks_per_state, args.walk_len,
                               args.extra_states)
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
    if args.table_out:
        with open(args.table_out, "w", encoding="utf-8") as f:
            f.write("<!-- model:begin -->\n" + markdown(table, alphabet) + "\n<!-- model:end -->\n")
    if args.check:
        sys.exit(check(args.check, alphabet, table))


def check(path, alphabet, table):
    """Compares `table` with the one documented in `path`: 0 if equivalent, 1 otherwise."""
    doc_alphabet, documented = read_table(path)
    if doc_alphabet != alphabet:
        print(f"{path} documents the alphabet {doc_alphabet}, the model has {alphabet}")
        return 1
    diff = difference(table, documented, alphabet)
    if diff:
        word, got, want = diff
        print(f"MISMATCH after {' '.join(word)}: learned {got}, documented {want}")
        return 1
    print(f"the learned model matches {path} ({len(documented)} documented states)")
    return 0


if __name__ == "__main__":
    main()
