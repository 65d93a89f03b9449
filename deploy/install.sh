#!/bin/sh
# Installs the CA-SAM site agent or coordinator from an offline bundle in this folder (no network needed).
#
#   ./install.sh site-agent|coordinator|<archive>.tar.gz [options]
#
#   site-agent, coordinator  the product to install (may be left out when the folder holds one bundle only;
#                            name the archive when it holds several versions of the product)
#   --prefix DIR       where versions go (default /opt/casam-<product>); DIR/current points at the running one
#   --bin-dir DIR      links the command there: DIR/<product> -> <prefix>/current/bin/<product>
#                      (default /usr/local/bin; none: no link)
#   --user NAME        the service user (default casam-agent, casam-coordinator). As root it is created when
#                      missing (system user, no login shell), and gets the state folder; none: skip this step
#   --state-dir DIR    the service's data folder, created 0700 and owned by the service user
#                      (default /var/lib/casam-agent, /var/lib/casam-coordinator)
#   --config-dir DIR   where <product>.env is created when missing, root:<user> 0640 (default /etc/casam)
#
# 1. checks the archive against its own checksum list (<archive>.sha256) before unpacking anything;
# 2. unpacks it into <prefix>/.incoming, checks every file against the list inside (FILES.sha256) and that it
#    is the product asked for, and that <prefix> holds no other product;
# 3. as root: the service user, its state folder and the env file (an existing one is never overwritten);
# 4. moves it to <prefix>/<version>, points <prefix>/current at it (the previous version stays, for rollback)
#    and links the command into --bin-dir.
# Needs Node.js >= 20.19 on PATH, tar, gzip, sha256sum (or shasum), and useradd for a new service user.
# Exit status: 0 installed, 1 refused (nothing installed), 2 usage error.
set -eu
# useradd and install live in the sbin folders, which a user's PATH may lack.
PATH="$PATH:/usr/sbin:/sbin"

fail() {
  echo "install.sh: $*" >&2
  exit 1
}
usage() {
  echo "install.sh: $* (see ./install.sh --help)" >&2
  exit 2
}

want=
prefix=
bindir=/usr/local/bin
user=
state=
confdir=/etc/casam
while [ $# -gt 0 ]; do
  case "$1" in
    -h | --help)
      awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"
      exit 0
      ;;
    --*=*)
      opt="${1%%=*}"
      val="${1#*=}"
      shift
      ;;
    --prefix | --bin-dir | --user | --state-dir | --config-dir)
      [ $# -ge 2 ] || usage "$1 needs a value"
      opt="$1"
      val="$2"
      shift 2
      ;;
    -*) usage "unknown option $1" ;;
    *)
      [ -z "$want" ] || usage "name one product or archive (got $want and $1)"
      want="$1"
      shift
      continue
      ;;
  esac
  [ -n "$val" ] || usage "$opt needs a value"
  case "$opt" in
    --prefix) prefix="$val" ;;
    --bin-dir) bindir="$val" ;;
    --user) user="$val" ;;
    --state-dir) state="$val" ;;
    --config-dir) confdir="$val" ;;
    *) usage "unknown option $opt" ;;
  esac
done

here="$(cd "$(dirname "$0")" && pwd)"

if command -v sha256sum >/dev/null 2>&1; then
  sha() { sha256sum "$@"; }
elif command -v shasum >/dev/null 2>&1; then
  sha() { shasum -a 256 "$@"; }
else fail "neither sha256sum nor shasum is installed"; fi

command -v node >/dev/null 2>&1 || fail "Node.js is not on PATH (install Node.js >= 20.19 from the hospital's package mirror)"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
  fail "Node.js $(node --version) is too old: CA-SAM needs >= 20.19"

# Each bundle carries its own checksum list, <archive>.sha256, so several bundles can share one folder.
product_of() {
  b="${1%%-[0-9]*}"
  echo "${b#casam-}"
}
bundles="$(cd "$here" && for f in casam-*.tar.gz.sha256; do [ -f "$f" ] && echo "${f%.sha256}"; done || true)"
[ -n "$bundles" ] || fail "no bundle next to install.sh (no casam-*.tar.gz.sha256 in $here): copy the whole bundle folder"
count() { printf '%s\n' "$1" | grep -c . || true; }
case "$want" in
  '')
    [ "$(count "$bundles")" -eq 1 ] ||
      fail "$here holds several bundles ($(echo $bundles)): name the one to install, e.g. ./install.sh site-agent or ./install.sh coordinator; nothing was installed"
    archive="$bundles"
    ;;
  *.tar.gz)
    archive="$(basename "$want")"
    [ -f "$here/$archive.sha256" ] || fail "$archive has no checksum list ($archive.sha256) in $here; nothing was installed"
    ;;
  site-agent | coordinator)
    matches="$(echo "$bundles" | grep "^casam-$want-[0-9]" || true)"
    case "$(count "$matches")" in
      0) fail "no casam-$want bundle in $here (it holds $(echo $bundles)); nothing was installed" ;;
      1) archive="$matches" ;;
      *) fail "$here holds several casam-$want bundles ($(echo $matches)): name the archive to install; nothing was installed" ;;
    esac
    ;;
  *) usage "unknown product \"$want\": site-agent, coordinator or an archive name" ;;
esac
product="$(product_of "$archive")"
case "$product" in
  site-agent)
    default_user=casam-agent
    state_var=CASAM_AGENT_HOME
    ;;
  coordinator)
    default_user=casam-coordinator
    state_var=COORDINATOR_DATA_DIR
    ;;
  *) fail "$archive is not a CA-SAM bundle" ;;
esac
[ -n "$prefix" ] || prefix="/opt/casam-$product"
[ -n "$state" ] || state="/var/lib/$default_user"
case "$state" in
  /*) ;;
  *) usage "--state-dir must be an absolute path (got $state)" ;;
esac
case "$state" in *'|'* | *'&'* | *'\'*) usage "--state-dir must not contain |, & or \\" ;; esac

# The prefix names a product, or already holds one: a bundle of the other product is refused.
case "$(basename "$prefix")" in
  casam-site-agent | casam-coordinator)
    [ "$(basename "$prefix")" = "casam-$product" ] ||
      fail "--prefix $prefix is the $(basename "$prefix") folder, but $archive is casam-$product; nothing was installed"
    ;;
esac
if [ -f "$prefix/current/manifest.json" ]; then
  installed="$(node -p 'require(process.argv[1]).name' "$prefix/current/manifest.json")"
  [ "$installed" = "casam-$product" ] ||
    fail "$prefix holds $installed, not casam-$product: choose another --prefix; nothing was installed"
fi

is_root=no
[ "$(id -u)" = 0 ] && is_root=yes
if [ -z "$user" ]; then
  if [ "$is_root" = yes ]; then user="$default_user"; else user=none; fi
fi
[ "$user" = none ] || [ "$is_root" = yes ] ||
  fail "creating the service user $user and its folders needs root (or pass --user none); nothing was installed"

link=
if [ "$bindir" != none ]; then
  link="$bindir/$product"
  if [ -e "$link" ] && [ ! -L "$link" ]; then
    fail "$link exists and is not a link: move it away, or pass --bin-dir <dir> (or none); nothing was installed"
  fi
  { mkdir -p "$bindir" 2>/dev/null && [ -w "$bindir" ]; } ||
    fail "cannot write in $bindir: run as root, or pass --bin-dir <dir> (or none); nothing was installed"
fi

echo "checking $archive against $archive.sha256"
[ "$(awk 'END { print NR }' "$here/$archive.sha256")" = 1 ] && [ "$(awk '{ print $2 }' "$here/$archive.sha256")" = "$archive" ] ||
  fail "$archive.sha256 must name $archive and nothing else; nothing was installed"
(cd "$here" && sha -c "$archive.sha256" >/dev/null 2>&1) ||
  fail "$archive does not match $archive.sha256: the copy is damaged or altered; nothing was installed"

mkdir -p "$prefix"
prefix="$(cd "$prefix" && pwd)"
incoming="$prefix/.incoming"
rm -rf "$incoming"
mkdir "$incoming"
trap 'rm -rf "$incoming"' EXIT
echo "unpacking into $incoming"
tar -xzf "$here/$archive" -C "$incoming"
name="$(ls "$incoming")"
[ -f "$incoming/$name/FILES.sha256" ] || fail "the archive has no FILES.sha256; nothing was installed"
echo "checking $(wc -l <"$incoming/$name/FILES.sha256") files against FILES.sha256"
(cd "$incoming/$name" && sha -c --quiet FILES.sha256) || fail "files in the archive do not match FILES.sha256; nothing was installed"
manifest="$incoming/$name/manifest.json"
[ "$(node -p 'require(process.argv[1]).name' "$manifest")" = "casam-$product" ] ||
  fail "$archive holds $(node -p 'require(process.argv[1]).name' "$manifest"), not casam-$product; nothing was installed"
version="$(node -p 'require(process.argv[1]).version' "$manifest")"
dest="$prefix/$version"
[ ! -e "$dest" ] || fail "$dest already exists: remove it first to reinstall this version"

# The service user, its state folder (0700: keys, database) and its env file, before anything runs as it.
if [ "$user" != none ]; then
  if ! id -u "$user" >/dev/null 2>&1; then
    command -v useradd >/dev/null 2>&1 ||
      fail "useradd is not installed: create the system user $user yourself, or pass --user none; nothing was installed"
    nologin=/bin/false
    for s in /usr/sbin/nologin /sbin/nologin; do [ -x "$s" ] && nologin="$s" && break; done
    useradd --system --user-group --no-create-home --home-dir "$state" --shell "$nologin" "$user" ||
      fail "useradd $user failed; nothing was installed"
    echo "created the system user $user (no login shell)"
  fi
  group="$(id -gn "$user")"
  if [ -d "$state" ]; then
    owner="$(stat -c %U "$state")"
    if [ "$owner" = "$user" ]; then
      chmod 0700 "$state"
    else
      echo "install.sh: warning: $state belongs to $owner, not $user: the service cannot use it; fix: chown -R $user: $state" >&2
    fi
  else
    mkdir -p "$(dirname "$state")"
    install -d -m 0700 -o "$user" -g "$group" "$state"
    echo "created $state (mode 0700, owner $user)"
  fi
  env_file="$confdir/$product.env"
  if [ -e "$env_file" ]; then
    echo "kept $env_file"
  else
    mkdir -p "$confdir"
    sed "s|^$state_var=.*|$state_var=$state|" "$incoming/$name/deploy/env/$product.env" >"$incoming/env"
    install -m 0640 -o root -g "$group" "$incoming/env" "$env_file"
    echo "created $env_file (mode 0640, group $group): the service's settings, see the comments in it"
  fi
fi

mv "$incoming/$name" "$dest"
ln -sfn "$version" "$prefix/current.new" && mv -T "$prefix/current.new" "$prefix/current"
echo "installed $product $version in $dest; $prefix/current -> $version"
if [ -n "$link" ]; then
  ln -sfn "$prefix/current/bin/$product" "$link.new" && mv -T "$link.new" "$link"
  echo "command: $link -> $prefix/current/bin/$product"
fi
run="$product"
[ -n "$link" ] || run="$prefix/current/bin/$product"
[ "$user" = none ] || run="runuser -u $user -- $run"
echo "units, logrotate, nginx: $prefix/current/deploy/; guide: $prefix/current/docs/operations.md"
case "$product" in
  site-agent) echo "next: $run init --coordinator https://<coordinator> --site-name <name>, then $run preflight" ;;
  coordinator) echo "next: $run create-admin --email <email> --role admin, then $run preflight" ;;
esac
