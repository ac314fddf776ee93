#!/usr/bin/env python3
"""Code lines of a crate's library: src/ without src/bin/, without unit-test modules
(`#[cfg(test)]` items and the files they name), comments and blank lines."""
import os, re, sys

def strip_tests(text):
    """Removes every item that follows a #[cfg(test)] attribute (a `mod x;` line or a braced block)."""
    out, i, lines = [], 0, text.split('\n')
    while i < len(lines):
        if lines[i].strip() == '#[cfg(test)]':
            i += 1
            # the item: one line ending in ';' or a block balanced in braces
            depth, started = 0, False
            while i < len(lines):
                l = lines[i]
                depth += l.count('{') - l.count('}')
                started = started or '{' in l
                i += 1
                if (not started and l.rstrip().endswith(';')) or (started and depth <= 0):
                    break
            continue
        out.append(lines[i]); i += 1
    return '\n'.join(out)

def test_files(text, path):
    """Files a #[cfg(test)] `mod name;` line pulls in."""
    names = re.findall(r'#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;', text)
    base = os.path.dirname(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    found = set()
    for n in names:
        for cand in (os.path.join(base, n + '.rs'), os.path.join(base, n, 'mod.rs'),
                     os.path.join(base, stem, n + '.rs')):
            found.add(os.path.normpath(cand))
    return found

def code_lines(text):
    n, in_block = 0, False
    for line in text.split('\n'):
        s = line.strip()
        if in_block:
            if '*/' in s:
                in_block = False
            continue
        if not s or s.startswith('//'):
            continue
        if s.startswith('/*'):
            in_block = '*/' not in s
            continue
        n += 1
    return n

def count(crate):
    src = os.path.join(crate, 'src')
    files, skip = [], set()
    for root, dirs, names in os.walk(src):
        if os.path.normpath(root).startswith(os.path.normpath(os.path.join(src, 'bin'))):
            continue
        for name in names:
            if name.endswith('.rs'):
                files.append(os.path.normpath(os.path.join(root, name)))
    for f in files:
        skip |= test_files(open(f).read(), f)
    return sum(code_lines(strip_tests(open(f).read())) for f in files if f not in skip)

for crate in sys.argv[1:]:
    print(f"{crate}\t{count(crate)}")
