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
#   --no-build     reuse target/site from an earlier scripts/build.sh
#
# The folder holds index.html, config.json, favicon.svg, robots.txt and pkg/ with the
# client's files under content-addressed names (pkg/<build>/knock.js, knock.wasm and the
# signed-in pages' module; pkg/knock.<hash>.css), and beside
# every compressible file its precompressed .br and .gz copies (scripts/prepare-site.mjs).
# Serve pkg/* with `Cache-Control: public, max-age=31536000, immutable`, index.html and
# config.json with `no-cache`, and FILE.br as FILE with `Content-Encoding: br` to browsers
# that accept it. The host must answer unknown paths with index.html (client routes such
# as /room/<id>), and the server must list the site's origin in --allowed-origins.
# docs/deploy-s3.md has the S3 and CloudFront settings and upload commands.
#
# It prepares target/site itself the same way, so that the one-box server serves the
# same page and files.
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
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
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
  scripts/build.sh >&2
fi

site=target/site
for f in pkg/knock.js pkg/knock.wasm pkg/knock.css config.json; do
  if [[ ! -f "$site/$f" ]]; then
    echo "export-static: $site/$f is missing; run without --no-build" >&2
    exit 1
  fi
done
node scripts/prepare-site.mjs "$site"

case "$out" in
  ""|"/"|".") echo "export-static: refusing to write to '$out'" >&2; exit 2 ;;
esac
rm -rf "$out"
mkdir -p "$out"
cp -R "$site/." "$out/"
# Only the content-addressed names are referenced (by index.html); the files at the top
# of pkg/ are for `cargo leptos watch`.
find "$out/pkg" -maxdepth 1 -type f ! -name 'knock.*.css*' -delete
printf '{"serverUrl": "%s"}\n' "$server_url" > "$out/config.json"

echo "export-static: wrote $out (serverUrl: \"${server_url}\")" >&2
(cd "$out" && find . -type f | sort | while read -r f; do
  printf '  %-38s %8d bytes\n' "${f#./}" "$(stat -c %s "$f")"
done) >&2
