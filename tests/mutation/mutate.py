"""Reads tests/mutation/mutants.txt and applies or reverts one mutant in a tree (run.sh's helper).

    mutate.py list MUTANTS                 ids, one per line: ID<TAB>FILE<TAB>DESCRIPTION
    mutate.py apply MUTANTS ID TREE        applies mutant ID to TREE/FILE (the original kept beside it)
    mutate.py revert MUTANTS ID TREE       puts the original back (and makes it newer than any build)

A mutant is a block of three lines:

    ID FILE: what the mistake is
    - text that occurs exactly once in FILE, within one line
    + what replaces it (nothing after "+ " deletes the text)

Blocks are separated by blank lines; lines starting with '#' are comments."""
import os
import sys


def read(path):
    mutants, block = [], []
    with open(path) as f:
        lines = f.read().split("\n")
    for number, line in enumerate(lines + [""], 1):
        if line.startswith("#"):
            continue
        if line.strip():
            block.append((number, line))
            continue
        if not block:
            continue
        if len(block) != 3 or not block[1][1].startswith("- ") or not (block[2][1] == "+" or block[2][1].startswith("+ ")):
            sys.exit("%s:%d: a mutant is 'ID FILE: description', '- old', '+ new'" % (path, block[0][0]))
        head = block[0][1]
        ident, _, rest = head.partition(" ")
        file, _, desc = rest.partition(": ")
        mutants.append({"id": ident, "file": file, "desc": desc, "old": block[1][1][2:], "new": block[2][1][2:],
                        "line": block[0][0]})
        block = []
    ids = [m["id"] for m in mutants]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        sys.exit("%s: duplicate ids %s" % (path, ", ".join(sorted(dup))))
    return mutants


def find(mutants, ident):
    for m in mutants:
        if m["id"] == ident:
            return m
    sys.exit("no mutant %s" % ident)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    cmd, mutants = sys.argv[1], read(sys.argv[2])
    if cmd == "list":
        for m in mutants:
            print("%s\t%s\t%s" % (m["id"], m["file"], m["desc"]))
        return
    m = find(mutants, sys.argv[3])
    path = os.path.join(sys.argv[4], m["file"])
    keep = path + ".mutation-original"
    if cmd == "apply":
        with open(path) as f:
            text = f.read()
        count = text.count(m["old"])
        if count != 1 or "\n" in m["old"]:
            sys.exit("mutant %s: '%s' occurs %d times in %s (must be once)" % (m["id"], m["old"], count, m["file"]))
        os.replace(path, keep)
        with open(path, "w") as f:
            f.write(text.replace(m["old"], m["new"], 1))
    elif cmd == "revert":
        if os.path.exists(keep):
            os.replace(keep, path)
        os.utime(path)  # newer than the mutant's objects: make rebuilds them
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
