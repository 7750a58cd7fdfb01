"""Turns the census's raw import lists into docs/libc-coverage.md and imports.tsv.

Input (written by tools/census/run):
  --imports    program<TAB>symbol@version<TAB>nm binding, one line per dynamic import
  --kiln       the global symbols Kiln's C library and linker script define
  --toolchain  those Rust's compiler_builtins defines (linked into every program)
  --published  the pinned published crates, one "crate version bin..." a line
  --link       optional: program<TAB>what `kiln build` said, for the programs tried
"""

import argparse
import re
from collections import defaultdict

# Imported by the startup files a dynamic glibc program links (Scrt1.o,
# crti.o, crtbeginS.o). `kiln build` links with -nostartfiles and its own
# `_start`, so programs built for Kiln never import these.
STARTUP = {
    "__libc_start_main",
    "__cxa_finalize",
    "__gmon_start__",
    "_ITM_deregisterTMCloneTable",
    "_ITM_registerTMCloneTable",
}

# The dynamic TLS resolver (ld.so). A static link, which `kiln build` does,
# relaxes every TLS access to local-exec, so Kiln programs never call it:
# std-baseline imports it natively and links under Kiln without it.
DYNAMIC_ONLY = {"__tls_get_addr"}

# Symbol version prefixes of the libraries Kiln's C library stands in for:
# glibc (libc, libm, libpthread, libdl, librt, ld.so) and libgcc_s.
KILN_LIBRARIES = ("GLIBC_", "GCC_")

# Unversioned weak imports that are hooks a bundled C library lets the
# program define (allocator and tracing hooks), not C-library functions.
# Other weak unversioned imports are glibc functions newer than the build
# host's glibc (std refers to them weakly, e.g. pidfd_spawnp): those are
# counted. Strong unversioned ones come from an unversioned library (libz).
HOOKS = re.compile(r"OPENSSL_.*|ZSTD_trace_.*|sdallocx")

MATH = re.compile(
    r"(a?(sin|cos|tan)h?|atan2|exp(2|10|m1)?|log(2|10|1p|b)?|i?logb|pow|sqrt|cbrt|hypot"
    r"|fmod|remainder|remquo|n?l?l?round|l?l?rint|nearbyint|trunc|floor|ceil|fabs|fmin|fmax"
    r"|fdim|fma|frexp|ldexp|scalbl?n|modf|copysign|nextafter|nexttoward|erfc?|[lt]gamma(_r)?"
    r"|j[01n]|y[01n]|sincos|significand|finite|isinf|isnan|__finite|__isnan|__isinf)[fl]?"
)

# Family of each missing symbol, first match wins; the rest is "misc".
FAMILIES = [
    ("pthread", re.compile(r"_*pthread_.*|sem_.*|__cxa_thread_atexit_impl")),
    ("math", MATH),
    (
        "stdio",
        re.compile(
            r"(__)?(v?[fsd]?n?printf|v?[fs]?scanf|__isoc99_.*scanf|.*printf_chk|f?open(64)?"
            r"|fdopen|freopen(64)?|fclose|fflush|fread|fwrite|f?puts|fputc|putc(har)?|f?getc|getchar"
            r"|fgets|getline|getdelim|fseeko?(64)?|ftello?(64)?|rewind|fileno|setvbuf|setbuf|perror"
            r"|clearerr|feof|ferror|ungetc|tmpfile|popen|pclose|remove|rename(at2?)?|stdin|stdout"
            r"|stderr|_IO_.*|__overflow|__uflow|open_memstream|fmemopen)(_unlocked)?"
        ),
    ),
    (
        "string",
        re.compile(
            r"(__)?(str|mem|wcs|wmem|stp|rawmem|bcmp|bzero|bcopy|index|rindex|ffs).*"
            r"|to(upper|lower)|is(alpha|digit|alnum|space|upper|lower|print|xdigit|punct|cntrl)"
            r"|__ctype_.*|mbs.*|mbr?towc|wcr?tomb|mblen|iconv.*|__xpg_strerror_r"
        ),
    ),
    (
        "time",
        re.compile(
            r"time|clock(_.*)?|gettimeofday|settimeofday|(local|gm)time(_r)?|mktime|timegm|tzset"
            r"|strf?time|strptime|difftime|n?a?n?o?sleep|usleep|clock_nanosleep|timer_.*|timerfd_.*"
            r"|asctime(_r)?|ctime(_r)?|tzname|timezone|daylight|getitimer|setitimer|alarm|ftime"
        ),
    ),
    (
        "pwd/grp",
        re.compile(r"get(pw|gr|sp)(nam|uid|gid|ent)(_r)?|[se]et(pw|gr)ent|getlogin(_r)?|getgrouplist|initgroups|cuserid"),
    ),
    (
        "resource",
        re.compile(
            r"[gs]etrlimit(64)?|prlimit(64)?|getrusage|[gs]etpriority|nice|sched_.*|sysconf|get_nprocs(_conf)?"
            r"|getpagesize|get_(av)?phys_pages|getloadavg|sysinfo|mlock(all)?|munlock(all)?"
        ),
    ),
    ("dl", re.compile(r"dl(open|sym|vsym|close|error|addr1?|info|_iterate_phdr|mopen)|__tls_get_addr")),
    (
        "socket/netdb",
        re.compile(
            r"socket(pair)?|bind|connect|listen|accept4?|send(to|msg|mmsg)?|recv(from|msg|mmsg)?"
            r"|[gs]etsockopt|getsockname|getpeername|shutdown|(get|free)addrinfo|gai_strerror"
            r"|getnameinfo|gethostby.*|getserv.*|getproto.*|inet_.*|hton[ls]|ntoh[ls]|if_.*"
            r"|(get|free)ifaddrs|res_.*|__res_.*|herror|hstrerror|h_errno|__h_errno_location"
        ),
    ),
]
FAMILY_ORDER = [name for name, _ in FAMILIES] + ["misc"]


def family(symbol):
    for name, pattern in FAMILIES:
        if pattern.fullmatch(symbol):
            return name
    return "misc"


def read_imports(path):
    """Returns {program: {symbol: version}} of every import, and the
    (program, symbol) pairs imported weakly (optional: a weak reference to
    an absent symbol reads as null, and the program copes)."""
    imports = defaultdict(dict)
    weak = set()
    with open(path) as lines:
        for line in lines:
            program, versioned, binding = line.rstrip("\n").split("\t")
            symbol, _, version = versioned.partition("@")
            imports[program][symbol] = version.lstrip("@")
            if binding in ("w", "v"):
                weak.add((program, symbol))
    return imports, weak


def library_of(version, symbol):
    """The library a symbol version names, for the imports Kiln does not stand in for."""
    if version.startswith(("OPENSSL_", "OPENSSL")):
        return "libssl/libcrypto"
    if version.startswith(("GLIBCXX_", "CXXABI_")):
        return "libstdc++"
    if not version:
        # Strong unversioned imports come from an unversioned library (bat's libz).
        return "weak hooks" if HOOKS.fullmatch(symbol) else "unversioned library (libz)"
    return version


def read_symbols(path):
    with open(path) as lines:
        return {line.strip() for line in lines if line.strip()}


def imported_by(programs, everyone):
    """Names the importers briefly: 'all', 'all but ...' or the list."""
    if len(programs) == len(everyone):
        return "all"
    if len(programs) > len(everyone) / 2:
        return "all but " + ", ".join(sorted(set(everyone) - set(programs)))
    return ", ".join(sorted(programs))


def link_section(path):
    """The `kiln build` results, as a Markdown section."""
    marker = "needs C-library functions Kiln does not provide: "
    rows = []
    with open(path) as lines:
        for line in lines:
            program, said = line.rstrip("\n").split("\t", 1)
            if said == "links":
                rows.append(f"| {program} | links | |")
            elif marker in said:
                rows.append(f"| {program} | missing symbols | {said.split(marker, 1)[1]} |")
            else:
                rows.append(f"| {program} | fails | {said} |")
    linked = sum("| links |" in row for row in rows)
    return [
        "## Linking under Kiln\n",
        f"`tools/census/run --link` ran `kiln build` on {len(rows)} of the small programs; "
        f"{linked} link. The linker names at most 20 missing symbols a program.\n",
        "| program | `kiln build` | missing |",
        "| --- | --- | --- |",
        *rows,
        "",
    ]


def main():
    parser = argparse.ArgumentParser()
    for option in ("--imports", "--kiln", "--toolchain", "--published", "--tsv", "--markdown"):
        parser.add_argument(option, required=True)
    parser.add_argument("--link")
    args = parser.parse_args()

    imports, weak = read_imports(args.imports)
    kiln_own = read_symbols(args.kiln)
    toolchain = read_symbols(args.toolchain)
    kiln = kiln_own | toolchain
    published_bins = {}
    for entry in args.published.splitlines():
        crate, version, *bins = entry.split()
        for binary in bins:
            published_bins[binary] = f"{crate} {version}"

    programs = sorted(imports, key=lambda p: (p not in published_bins, p))
    counted = {}  # program -> set of glibc/libgcc_s symbols it imports
    others = {}  # program -> {library: count} of the imports from other libraries
    startup_seen = set()
    for program in programs:
        counted[program] = set()
        others[program] = defaultdict(int)
        for symbol, version in imports[program].items():
            if symbol in STARTUP or symbol in DYNAMIC_ONLY:
                startup_seen.add(symbol)
            elif version.startswith(KILN_LIBRARIES) or (
                not version and (program, symbol) in weak and not HOOKS.fullmatch(symbol)
            ):
                counted[program].add(symbol)
            else:
                others[program][library_of(version, symbol)] += 1

    importers = defaultdict(list)
    for program in programs:
        for symbol in counted[program]:
            importers[symbol].append(program)
    symbols = sorted(importers, key=lambda s: (-len(importers[s]), s))
    missing = [s for s in symbols if s not in kiln]
    # Missing symbols that every importer imports weakly, so none needs them.
    optional = {s for s in missing if all((p, s) in weak for p in importers[s])}
    # What each program lacks: strongly imported (the link fails without
    # it) and weakly imported (the program copes, as with an older glibc).
    lacking = {p: sorted(s for s in counted[p] - kiln if (p, s) not in weak) for p in programs}
    lacking_weak = {p: sorted(s for s in counted[p] - kiln if (p, s) in weak) for p in programs}
    by_family = defaultdict(list)
    for symbol in missing:
        by_family[family(symbol)].append(symbol)

    with open(args.tsv, "w") as tsv:
        tsv.write("program\tsymbol\n")
        for program in programs:
            for symbol in sorted(counted[program]):
                tsv.write(f"{program}\t{symbol}\n")

    n_published = sum(p in published_bins for p in programs)
    out = []
    out.append("# C library coverage: the census\n")
    out.append(
        "Generated by `tools/census/run` (do not edit by hand). It builds real Rust programs "
        "natively against glibc, lists the glibc and libgcc_s functions each imports "
        "(`nm -D --undefined-only`, symbol versions stripped), and checks each against the "
        "global symbols Kiln's C library (`crates/kiln-libc`, with the library OS) and its "
        "linker script define, or Rust's `compiler_builtins` (linked into every program, "
        "Kiln's too) does. `tools/census/imports.tsv` has the same imports, one "
        "(program, symbol) a line.\n"
    )
    covered = len(symbols) - len(missing)
    out.append(
        f"**Summary: {len(programs)} programs ({n_published} published binaries, "
        f"{len(programs) - n_published} small programs from `tools/census/programs`), "
        f"{len(symbols)} distinct symbols imported, {covered} defined by Kiln, "
        f"{len(missing)} missing, of which {len(missing) - len(optional)} are imported "
        f"strongly by some program and {len(optional)} only weakly.** "
        f"Programs whose every strong import Kiln defines (so they link, though a "
        f"function may still answer ENOSYS): {sum(not lacking[p] for p in programs)} "
        f"of {len(programs)}.\n"
    )
    out.append("## Missing symbols by header family\n")
    out.append(
        "Each symbol is followed by the number of corpus programs that import it; "
        "*weak* marks one that every importer imports weakly (it copes with its absence).\n"
    )
    for name in FAMILY_ORDER:
        if by_family[name]:
            listed = ", ".join(
                f"`{s}` {len(importers[s])}" + (" *weak*" if s in optional else "")
                for s in by_family[name]
            )
            out.append(f"- **{name}** ({len(by_family[name])}): {listed}")
    out.append("")
    out.append("## Programs\n")
    out.append(
        "`imports` counts the glibc and libgcc_s symbols a program imports; `missing` "
        "those of them Kiln lacks and the program imports strongly; `weak` those it "
        "imports weakly.\n"
    )
    out.append("| program | from | imports | missing | missing symbols | weak |")
    out.append("| --- | --- | ---: | ---: | --- | --- |")
    for program in programs:
        source = published_bins.get(program, "tools/census/programs")
        out.append(
            f"| {program} | {source} | {len(counted[program])} | {len(lacking[program])} | "
            f"{', '.join(lacking[program])} | {', '.join(lacking_weak[program])} |"
        )
    out.append("")
    if args.link:
        out.extend(link_section(args.link))
    out.append("## Symbols\n")
    out.append("| symbol | programs | Kiln | imported by |")
    out.append("| --- | ---: | --- | --- |")
    for symbol in symbols:
        if symbol in kiln_own:
            defined = "yes"
        elif symbol in toolchain:
            defined = "yes (compiler_builtins)"
        elif symbol in optional:
            defined = "**no** (weak)"
        else:
            defined = "**no**"
        out.append(
            f"| `{symbol}` | {len(importers[symbol])} | {defined} | "
            f"{imported_by(importers[symbol], programs)} |"
        )
    out.append("")
    out.append("## Not counted\n")
    out.append(
        "- Imports of the dynamic link only, which programs built by `kiln build` (linked "
        "statically, with `-nostartfiles` and Kiln's `_start`) never have: the startup files' "
        "and ld.so's TLS resolver (TLS accesses are relaxed to local-exec): "
        f"{', '.join(f'`{s}`' for s in sorted(startup_seen))}."
    )
    foreign = [(p, others[p]) for p in programs if others[p]]
    if foreign:
        out.append(
            "- Imports from libraries other than glibc and libgcc_s (not the C library's job): "
            + "; ".join(
                f"{p}: " + ", ".join(f"{lib} {n}" for lib, n in sorted(libs.items()))
                for p, libs in foreign
            )
            + ". The weak hooks (`OPENSSL_memory_*`, `ZSTD_trace_*`, `sdallocx`) are "
            "functions bundled C code lets a program define; it copes without them."
        )
    out.append(
        "- Functions a program looks up at run time with `dlsym` (std does so for a few, "
        "e.g. `__pthread_get_minstack`) are not imports, so no census of imports sees them."
    )
    with open(args.markdown, "w") as markdown:
        markdown.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
