"""Build roff man pages from reStructuredText with docutils' manpage writer.

Usage: build-man.py --version V --outdir DIR --list LISTFILE [SOURCE.rst ...]
Each man/NAME.rst becomes DIR/NAME.N (section N from a ".. man-section: N" comment,
else a ":Manual section: N" field, else 8).  A page is rebuilt only when its source,
this script or ./Makefile is newer; LISTFILE receives the built pages, one per line,
and pages of removed sources are deleted.
"""

import argparse
import os
import re
import sys

from docutils.utils import SystemMessage

DEFAULT_SECTION = "8"
_COMMENT_RE = re.compile(r"^\.\.\s+man-section:\s*([1-9])\s*$", re.MULTILINE)
_FIELD_RE = re.compile(r"^:Manual section:\s*([1-9])\s*$", re.MULTILINE | re.IGNORECASE)
_TH_RE = re.compile(r"^\.TH .*$", re.MULTILINE)


def page_section(text: str) -> str:
    for regex in (_COMMENT_RE, _FIELD_RE):
        match = regex.search(text)
        if match:
            return match.group(1)
    return DEFAULT_SECTION


def convert(text: str, source: str, name: str, section: str, version: str) -> str:
    from docutils.core import publish_string
    from docutils.writers import manpage

    text = text.replace("@GANETI_VERSION@", version)
    output = publish_string(
        source=text, source_path=source, writer=manpage.Writer(),
        settings_overrides={
            "input_encoding": "utf-8",
            "output_encoding": "utf-8",
            "report_level": 2,
            # An rst error (unknown directive, broken markup) fails the build.
            "halt_level": 3,
            "exit_status_level": 3,
        }).decode("utf-8")
    # Rewrite the header so that name, section and version never depend on how the
    # page spelled its title (the date is left empty to keep builds reproducible).
    header = f'.TH "{name.upper()}" "{section}" "" "ganeti {version}" "Ganeti"'
    return _TH_RE.sub(lambda _m: header, output, count=1)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--version", required=True)
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--list", required=True, dest="listfile")
    parser.add_argument("sources", nargs="*")
    opts = parser.parse_args()

    os.makedirs(opts.outdir, exist_ok=True)
    # A new configure run (new Makefile, maybe a new version) rebuilds every page.
    deps_mtime = max(os.stat(path).st_mtime for path in (__file__, "Makefile")
                     if os.path.exists(path))
    built = []
    for source in opts.sources:
        name = os.path.basename(source)[:-len(".rst")]
        with open(source, encoding="utf-8") as handle:
            text = handle.read()
        section = page_section(text)
        target = os.path.join(opts.outdir, f"{name}.{section}")
        built.append(target)
        if os.path.exists(target):
            target_mtime = os.stat(target).st_mtime
            if target_mtime >= max(os.stat(source).st_mtime, deps_mtime):
                continue
        print(f"  MAN      {target}")
        try:
            roff = convert(text, source, name, section, opts.version)
        except (SystemMessage, UnicodeError) as err:
            sys.stderr.write(f"{source}: cannot build man page: {err}\n")
            return 1
        tmp = target + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(roff)
        os.replace(tmp, target)

    old = []
    if os.path.exists(opts.listfile):
        with open(opts.listfile, encoding="utf-8") as handle:
            old = handle.read().split()
    for stale in set(old) - set(built):
        if os.path.exists(stale):
            os.unlink(stale)
    content = "".join(f"{page}\n" for page in built)
    if content != "".join(f"{page}\n" for page in old) or not os.path.exists(
            opts.listfile):
        with open(opts.listfile, "w", encoding="utf-8") as handle:
            handle.write(content)
    return 0


if __name__ == "__main__":
    sys.exit(main())
