#!/usr/bin/env bash
# The docs stand alone in the repository: every Markdown file an admin or an engineer reads
# (README.md, docs/**/*.md, installer/*.md, config/**/*.md, tests/**/README.md; build*/ and .git
# skipped) is checked for
#   1. relative links, [text](path) or [text](path#anchor), images and [label]: path definitions,
#      whose file or folder does not exist, and anchors into a Markdown file that name no heading
#      of it (GitHub's heading ids);
#   2. links and path references that leave the repository: a link to an absolute path or to a
#      scheme other than http(s)/mailto, a ../ that climbs above the repository's root (in a link
#      or anywhere in the text, code included), any "/work/" or "../shared";
#   3. a README.md longer than 160 lines (it is the user's way in; the rest belongs in docs/).
#   docs_links_check.sh <source dir>
set -euo pipefail

source_dir=${1:?usage: docs_links_check.sh <source dir>}
command -v python3 >/dev/null || { echo "docs-links: python3 is missing (scripts/setup installs it)"; exit 1; }

exec python3 - "$source_dir" <<'PYTHON'
import os
import re
import sys
import unicodedata

root = os.path.realpath(sys.argv[1])
README_MAX_LINES = 160
failures = []


def fail(path, line, message):
    failures.append(f"{os.path.relpath(path, root)}:{line}: {message}")


def markdown_files():
    for top in ("README.md",):
        if os.path.isfile(os.path.join(root, top)):
            yield os.path.join(root, top)
    for folder, pattern in (("docs", None), ("installer", "flat"), ("config", None), ("tests", "README")):
        base = os.path.join(root, folder)
        for current, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if not d.startswith("build") and d != ".git")
            if pattern == "flat" and current != base:
                continue
            for name in sorted(files):
                if not name.endswith(".md"):
                    continue
                if pattern == "README" and name != "README.md":
                    continue
                yield os.path.join(current, name)


def github_slug(heading):
    # GitHub's heading ids: lower case, markup and punctuation dropped (but - and _ kept),
    # each space a hyphen.
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[*~]", "", text)
    text = text.strip().lower()
    kept = []
    for char in text:
        category = unicodedata.category(char)
        if char in "-_ " or category[0] in "LN":
            kept.append(char)
    return "".join(kept).replace(" ", "-")


anchor_cache = {}


def anchors_of(path):
    if path not in anchor_cache:
        anchors, seen, in_fence = set(), {}, False
        with open(path, encoding="utf-8") as f:
            for line in f:
                if re.match(r"^\s*(```|~~~)", line):
                    in_fence = not in_fence
                    continue
                match = None if in_fence else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
                if match:
                    slug = github_slug(match.group(1))
                    count = seen.get(slug, 0)
                    anchors.add(slug if count == 0 else f"{slug}-{count}")
                    seen[slug] = count + 1
                for name in re.findall(r'<a\s+(?:name|id)="([^"]+)"', line):
                    anchors.add(name)
        anchor_cache[path] = anchors
    return anchor_cache[path]


def inside_root(path):
    return path == root or path.startswith(root + os.sep)


INLINE_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+\"[^\"]*\")?\s*\)")
DEFINITION = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
CLIMB = re.compile(r"(?<![\w.])((?:\.\./)+[^\s`'\"()\[\]<>,;]*)")


def check_target(path, line_number, target):
    target = target.strip("<>")
    if re.match(r"^https?://", target) or target.startswith("mailto:"):
        return
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target):
        fail(path, line_number, f"link to {target}: only http(s) links may leave the repository")
        return
    if target.startswith("/"):
        fail(path, line_number, f"link to the absolute path {target}: it is not in the repository; link relatively")
        return
    file_part, _, anchor = target.partition("#")
    resolved = os.path.realpath(os.path.join(os.path.dirname(path), file_part)) if file_part else path
    if not inside_root(resolved):
        fail(path, line_number, f"link to {target} leaves the repository")
        return
    if not os.path.exists(resolved):
        fail(path, line_number, f"dead link: {target} ({os.path.relpath(resolved, root)} does not exist)")
        return
    if anchor and resolved.endswith(".md") and os.path.isfile(resolved):
        if anchor not in anchors_of(resolved):
            fail(path, line_number, f"dead anchor: {target} ({os.path.relpath(resolved, root)} has no heading #{anchor})")


checked = 0
for path in markdown_files():
    checked += 1
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    in_fence = False
    for number, line in enumerate(lines, start=1):
        # Anywhere, code included: nothing names a build machine's files.
        for outside in ("/work/", "../shared"):
            if outside in line:
                fail(path, number, f"names {outside!r}, which is outside the repository")
        for climb in CLIMB.findall(line):
            if not inside_root(os.path.realpath(os.path.join(os.path.dirname(path), climb))):
                fail(path, number, f"{climb} climbs out of the repository")
        if re.match(r"^\s*(```|~~~)", line):
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        text = re.sub(r"`[^`]*`", "``", line)  # a link inside a code span is code, not a link
        for target in INLINE_LINK.findall(text):
            check_target(path, number, target)
        definition = DEFINITION.match(text)
        if definition:
            check_target(path, number, definition.group(1))

readme = os.path.join(root, "README.md")
if os.path.isfile(readme):
    with open(readme, encoding="utf-8") as f:
        count = sum(1 for _ in f)
    if count > README_MAX_LINES:
        fail(readme, count, f"README.md has {count} lines, more than {README_MAX_LINES}: move the details into docs/")

for failure in failures:
    print(f"docs-links: FAIL: {failure}")
if failures:
    print(f"docs-links: {len(failures)} problem(s) in {checked} Markdown file(s)")
    sys.exit(1)
print(f"docs-links: ok: {checked} Markdown file(s), every relative link and anchor resolves inside the repository")
PYTHON
