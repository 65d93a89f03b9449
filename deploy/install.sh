#!/bin/sh
# Installs the CA-SAM site agent or coordinator from the offline bundle in this folder (no network needed).
#
#   ./install.sh [--prefix /opt/casam-site-agent]      (default: /opt/<bundle name>, e.g. /opt/casam-coordinator)
#
# 1. checks the archive against SHA256SUMS before unpacking anything;
# 2. unpacks it into <prefix>/.incoming and checks every file against the sha256 list inside (FILES.sha256);
# 3. moves it to <prefix>/<version> and points <prefix>/current at it (the previous version stays, for rollback).
# Needs: Node.js >= 20.19 on PATH, tar, gzip, sha256sum (or shasum). Exit status: 0 installed, 1 refused.
set -eu

prefix=
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
    --prefix=*) prefix="${1#--prefix=}"; shift ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown argument $1 (see --help)" >&2; exit 1 ;;
  esac
done

here="$(cd "$(dirname "$0")" && pwd)"
fail() { echo "install.sh: $*" >&2; exit 1; }

if command -v sha256sum >/dev/null 2>&1; then sha() { sha256sum "$@"; }
elif command -v shasum >/dev/null 2>&1; then sha() { shasum -a 256 "$@"; }
else fail "neither sha256sum nor shasum is installed"; fi

command -v node >/dev/null 2>&1 || fail "Node.js is not on PATH (install Node.js >= 20.19 from the hospital's package mirror)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
  fail "Node.js $(node --version) is too old: CA-SAM needs >= 20.19"

[ -f "$here/SHA256SUMS" ] || fail "SHA256SUMS is missing next to install.sh: copy the whole bundle folder"
archive="$(awk 'NR==1 {print $2}' "$here/SHA256SUMS")"
bundle="${archive%%-[0-9]*}"   # casam-site-agent or casam-coordinator
[ -n "$prefix" ] || prefix="/opt/$bundle"
[ -f "$here/$archive" ] || fail "$archive (named in SHA256SUMS) is missing"
echo "checking $archive against SHA256SUMS"
(cd "$here" && sha -c SHA256SUMS >/dev/null 2>&1) ||
  fail "$archive does not match SHA256SUMS: the copy is damaged or altered; nothing was installed"

mkdir -p "$prefix"
incoming="$prefix/.incoming"
rm -rf "$incoming"
mkdir "$incoming"
trap 'rm -rf "$incoming"' EXIT
echo "unpacking into $incoming"
tar -xzf "$here/$archive" -C "$incoming"
name="$(ls "$incoming")"
[ -f "$incoming/$name/FILES.sha256" ] || fail "the archive has no FILES.sha256; nothing was installed"
echo "checking $(wc -l < "$incoming/$name/FILES.sha256") files against FILES.sha256"
(cd "$incoming/$name" && sha -c --quiet FILES.sha256) || fail "files in the archive do not match FILES.sha256; nothing was installed"

version="$(node -p "require('$incoming/$name/manifest.json').version")"
command="$(node -p "require('$incoming/$name/manifest.json').command")"
dest="$prefix/$version"
[ -e "$dest" ] && fail "$dest already exists: remove it first to reinstall this version"
mv "$incoming/$name" "$dest"
ln -sfn "$version" "$prefix/current.new" && mv -T "$prefix/current.new" "$prefix/current"
echo "installed $command $version in $dest; $prefix/current -> $version"
echo "next: $prefix/current/bin/$command preflight   (see docs/operations.md)"
