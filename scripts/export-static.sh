#!/usr/bin/env bash
# Builds the web client and writes it as a folder of static files for any static host
# (S3, CloudFront, nginx, a CDN), the server's address set at deploy time:
#
#   scripts/export-static.sh [--no-build] [--server-url URL] [OUT_DIR]
#
#   OUT_DIR        where to write the site (default: dist/); replaced if it exists
#   --server-url   written to OUT_DIR/config.json as serverUrl, e.g.
#                  https://chat-api.example.com (default: empty = the page's own origin);
#                  edit config.json later to point the same files at another server
#   --no-build     reuse target/site from an earlier `cargo leptos build --release`
#
# The folder holds index.html, config.json, favicon.svg, robots.txt and pkg/ (knock.js,
# knock.wasm, knock.css). The host must answer unknown paths with index.html (client
# routes such as /room/<id>), and the server must list the site's origin in
# --allowed-origins. docs/deploy-s3.md has the S3 and CloudFront settings.
#
# It also installs the page shell frontend/index.html into target/site (cargo-leptos
# reserves public/index.html), so that the one-box server serves the same page.
set -euo pipefail
cd "$(dirname "$0")/.."

build=true
server_url=""
out="dist"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --no-build) build=false ;;
    --server-url) server_url="${2:?--server-url needs a URL}"; shift ;;
    --server-url=*) server_url="${1#*=}" ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "export-static: unknown option $1" >&2; exit 2 ;;
    *) out="$1" ;;
  esac
  shift
done

if [[ "$server_url" =~ [\"\\[:space:]] ]]; then
  echo "export-static: --server-url must not contain quotes, backslashes or spaces" >&2
  exit 2
fi

if $build; then
  cargo leptos build --release >&2
fi

site=target/site
install -m 644 frontend/index.html "$site/index.html"
for f in pkg/knock.js pkg/knock.wasm pkg/knock.css config.json; do
  if [[ ! -f "$site/$f" ]]; then
    echo "export-static: $site/$f is missing; run without --no-build" >&2
    exit 1
  fi
done

case "$out" in
  ""|"/"|".") echo "export-static: refusing to write to '$out'" >&2; exit 2 ;;
esac
rm -rf "$out"
mkdir -p "$out"
cp -R "$site/." "$out/"
rm -f "$out"/pkg/*.d.ts
printf '{"serverUrl": "%s"}\n' "$server_url" > "$out/config.json"

echo "export-static: wrote $out (serverUrl: \"${server_url}\")" >&2
(cd "$out" && find . -type f | sort | while read -r f; do
  printf '  %-22s %8d bytes\n' "${f#./}" "$(stat -c %s "$f")"
done) >&2
