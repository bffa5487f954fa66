#!/usr/bin/env bash
# Refresh the browser assets that the offline book serves from book/_vendor/ (see
# book/_vendor/README.md). Installs the npm packages pinned in package.json/package-lock.json
# (with their integrity hashes) into a temporary folder and copies the few files the book
# loads. To upgrade: change a version in package.json, run
#     npm install --package-lock-only --ignore-scripts      (in tools/book_assets/)
# then this script, then `pytest tests/test_book.py tests/test_browser.py`, and update the
# versions table in book/_vendor/README.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
vendor="$here/../../book/_vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cp "$here/package.json" "$here/package-lock.json" "$work/"
(cd "$work" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
nm="$work/node_modules"

rm -rf "$vendor/mathjax" "$vendor/font-awesome"
mkdir -p "$vendor/mathjax/output/chtml/fonts" "$vendor/font-awesome/css" "$vendor/font-awesome/fonts"

# MathJax 3: one combined component with every TeX extension built in (nothing is
# auto-loaded at run time) and the CommonHTML fonts it fetches relative to itself.
cp "$nm/mathjax/es5/tex-chtml-full.js" "$nm/mathjax/LICENSE" "$vendor/mathjax/"
cp -r "$nm/mathjax/es5/output/chtml/fonts/woff-v2" "$vendor/mathjax/output/chtml/fonts/"

# Font Awesome 4.4, linked by matplotlib's to_jshtml() animations (the book rewrites that
# CDN link to this copy; woff2 only, as above).
cp "$nm/font-awesome/css/font-awesome.min.css" "$vendor/font-awesome/css/"
cp "$nm/font-awesome/fonts/fontawesome-webfont.woff2" "$vendor/font-awesome/fonts/"

du -sb "$vendor"/*/ | sed "s|$vendor/||"
