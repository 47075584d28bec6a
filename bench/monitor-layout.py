#!/usr/bin/env python3
"""Lists the input sections that berth-monitor runs while a container is active, in the order
first run, as lines for the busy-path block of src/monitor/idle_layout.ld.

  bench/monitor-layout.py BINARY MAP CALLGRIND_OUT...

BINARY is a berth-monitor linked with -Wl,-Map,MAP; each CALLGRIND_OUT a dump of
`valgrind --tool=callgrind --demangle=no` taken after start-up (callgrind_control -z, then -d),
as bench/monitor-profile.sh makes them (it runs this script). Only code of BINARY counts; a
function seen in no section of its own is skipped. The same inputs give the same output.
"""
import bisect
import os
import re
import subprocess
import sys


def profiled_functions(paths, binary, known):
    """Mangled names of the functions of `binary` (those in `known`) that ran themselves (self
    cost, not only calls) in the dumps, first seen first. Callgrind sometimes loses track of the
    object a piece of code belongs to ("???", after the monitor's madvise calls): such functions
    count when the program has a symbol of that name."""
    seen, order = set(), []
    for path in paths:
        # Callgrind names an object or function once, "ob=(7) /path", then only "ob=(7)";
        # cob=/cfn= name a callee's, ob=/fn= the current one's.
        names = {"ob": {}, "fn": {}}
        current = {"ob": None, "fn": None}
        fn, after_calls = None, False
        for line in open(path, errors="replace"):
            line = line.rstrip("\n")
            m = re.match(r"^(c?)(ob|fn)=\((\d+)\)(?: (.*))?$", line)
            if m:
                callee, kind, i, name = m.groups()
                if name:
                    names[kind][i] = name
                if not callee:
                    current[kind] = names[kind].get(i)
                if not callee and kind == "fn":
                    obj, name = current["ob"], current["fn"]
                    ours = obj == "???" or (obj and os.path.realpath(obj) == binary)
                    fn = name if ours and name and name.split("'")[0] in known else None
                continue
            if line.startswith("calls="):
                after_calls = True
                continue
            if re.match(r"^[+-]?\d+ \d+", line) or re.match(r"^[*+-]\S* \d+", line):
                # a cost line: the callee's inclusive cost right after calls=, else the function's own
                if not after_calls and fn and fn not in seen and int(line.split()[1]) > 0:
                    seen.add(fn)
                    order.append(fn)
                after_calls = False
    return order


def symbol_addresses(binary):
    out = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    addresses = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            addresses.setdefault(parts[2], int(parts[0], 16))
    return addresses


def input_sections(map_path):
    """(start, end, section, file) of each code input section in a GNU ld map, sorted."""
    sections, pending = [], None
    for line in open(map_path, errors="replace"):
        line = line.rstrip("\n")
        m = re.match(r"^ (\.text\S*)\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)
        if m:
            name, addr, size, path = m.groups()
        elif pending and (m := re.match(r"^\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+(\S.*)$", line)):
            name, (addr, size, path) = pending, m.groups()
        else:
            m = re.match(r"^ (\.text\S*)$", line)
            pending = m.group(1) if m else None
            continue
        pending = None
        start, size = int(addr, 16), int(size, 16)
        if size:
            sections.append((start, start + size, name, path))
    sections.sort()
    return sections


# glibc picks one variant of these per CPU at start-up (IFUNC), and callgrind's simulated CPU is
# not the real one: all their variants go in, 27 kB.
STRING_FUNCTIONS = ["memmove", "memset", "memchr", "memcmp", "strlen"]
# Constant tables that profiled libc functions read (gmtime_r -> __offtime -> __mon_yday).
LIBC_TABLES = ["mktime.o"]


def member_of(path):
    """("libc.a", "malloc.o") for /x/libc.a(malloc.o), or None for a plain object file."""
    m = re.match(r"^.*/([^/(]+)\((.+)\)$", path)
    return (m.group(1), m.group(2)) if m else None


def lines_for(section, path):
    """The linker script lines that place this code input section and the constants it uses,
    wherever the build puts its files. A function's own section (an inline function's may come
    from any object) is named alone, with its jump tables and strings (.rodata.NAME*); a glibc
    object (one function each, in .text) by archive member, with its .rodata."""
    name = section[len(".text."):] if section.startswith(".text.") else ""
    if name.startswith(("_Z", "startup._Z")):
        return [f"    *({section})", f"    *(.rodata.{name} .rodata.{name}.*)"]
    member = member_of(path)
    if member:
        where = f"*{member[0]}:{member[1]}"
        return [f"    {where}({section})", f"    {where}(.rodata .rodata.*)"]
    return [f"    *{os.path.basename(path)}({section})"]


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    binary, map_path, dumps = os.path.realpath(sys.argv[1]), sys.argv[2], sys.argv[3:]
    addresses = symbol_addresses(binary)
    sections = input_sections(map_path)
    starts = [s[0] for s in sections]
    out, objects = [], []
    for function in profiled_functions(dumps, binary, addresses):
        address = addresses.get(function.split("'")[0])
        if address is None:
            continue
        i = bisect.bisect_right(starts, address) - 1
        if i < 0 or address >= sections[i][1] or sections[i][2].startswith(".text.hot"):
            continue  # not in a section of its own, or on the wait path (placed already)
        member = member_of(sections[i][3])
        if member and member[0] == "libc.a" and member[1].split("-")[0] in STRING_FUNCTIONS:
            continue  # all its variants follow
        out += lines_for(sections[i][2], sections[i][3])
        if member and member[0].startswith("libberth") and member not in objects:
            objects.append(member)
    # Our objects' constants in no function's section (tables, SSE masks, 8- and 16-byte literals).
    out += [f"    *{a}:{m}(.rodata .rodata.cst*)" for a, m in objects]
    # Tables that inline functions keep in local statics (fmt's digit counts and the like): named
    # after a function that was inlined, so no profile shows it; all of them take 3.5 kB.
    out += ["    *(.rodata._ZZ*)"]
    # fmt's constants (digit pairs, messages): often named after a function inlined into the one
    # that ran; 2.5 kB in all.
    out += ["    *(.rodata._ZN3fmt*)"]
    out += [f"    *libc.a:{f}-*.o(.text .text.*)" for f in STRING_FUNCTIONS]
    out += [f"    *libc.a:{t}(.rodata)" for t in LIBC_TABLES]
    printed = set()
    for line in out:
        if line not in printed:
            printed.add(line)
            print(line)


if __name__ == "__main__":
    main()
