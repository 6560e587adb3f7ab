#!/usr/bin/env bash
# Vendors uPlot (the insights page's one chart library) from the npm registry into
# streams/insights/page/vendor/: the minified script, its CSS and its licence. The page
# loads nothing from a CDN, so it works offline. Usage: tools/vendor-uplot.sh [VERSION]
set -euo pipefail
version="${1:-latest}"
here="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$here/streams/insights/page/vendor"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack --silent "uplot@$version" >/dev/null
tar xzf uplot-*.tgz
cp package/dist/uPlot.iife.min.js package/dist/uPlot.min.css "$vendor/"
cp package/LICENSE "$vendor/uPlot.LICENSE"
sha="$(sha256sum uplot-*.tgz | cut -d' ' -f1)"
printf 'uPlot %s from the npm registry (npm pack uplot@%s), tarball sha256 %s.\nUpdate: tools/vendor-uplot.sh [VERSION], then run tests/browser/test_insights_browser.py.\n' \
  "$(node -p "require('./package/package.json').version")" "$version" "$sha" > "$vendor/VERSION"
cat "$vendor/VERSION"
