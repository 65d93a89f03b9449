#!/bin/sh
# The @COMMAND@ command of an offline installation (<prefix>/<version>/bin/@COMMAND@), written from
# deploy/launcher.sh by scripts/pack-offline.ts. install.sh links it into /usr/local/bin (through
# <prefix>/current, so an upgrade switches the command too); readlink -f finds this version's files from the link.
#
# It reads /etc/casam/@COMMAND@.env first (CASAM_ENV_FILE names another file; empty: none), the file the systemd
# units read, so a command typed by hand sees the same data folder, proxy and CA as the service. Variables
# already in the environment win (systemd has set them from that file already). Runs Node.js from PATH.
set -eu

here="$(dirname "$(readlink -f "$0")")"
case "@COMMAND@" in
  site-agent) state_var=CASAM_AGENT_HOME ;;
  *) state_var=COORDINATOR_DATA_DIR ;;
esac

env_file="${CASAM_ENV_FILE-/etc/casam/@COMMAND@.env}"
if [ -n "$env_file" ] && [ -e "$env_file" ]; then
  if [ -r "$env_file" ]; then
    # systemd's EnvironmentFile= syntax: KEY=VALUE lines, # or ; comments, optional quotes, no expansion.
    while IFS= read -r line || [ -n "$line" ]; do
      line="${line#"${line%%[![:space:]]*}"}"
      case "$line" in '' | '#'* | ';'*) continue ;; esac
      key="${line%%=*}"
      key="${key%"${key##*[![:space:]]}"}"
      value="${line#*=}"
      value="${value#"${value%%[![:space:]]*}"}"
      case "$line" in *=*) ;; *) key= ;; esac
      case "$key" in
        '' | [0-9]* | *[!A-Za-z0-9_]*)
          echo "@COMMAND@: warning: $env_file: ignoring a line that is not KEY=VALUE" >&2
          continue
          ;;
      esac
      case "$value" in
        \"*\") value="${value#\"}" && value="${value%\"}" ;;
        \'*\') value="${value#\'}" && value="${value%\'}" ;;
      esac
      # $key is a checked variable name, so this eval only tests whether it is set.
      eval "set_already=\${$key+x}"
      [ -n "$set_already" ] || export "$key=$value"
    done <"$env_file"
  else
    echo "@COMMAND@: warning: cannot read $env_file (data folder, proxy and CA settings there are not applied): run as root or as the service user" >&2
  fi
fi

# Run by root on a data folder that belongs to the service user, new files there would belong to root and the
# service could not use them: say so (the command still runs, e.g. for a root-owned test home).
eval "state_dir=\${$state_var-}"
if [ "$(id -u)" = 0 ] && [ -n "$state_dir" ] && [ -d "$state_dir" ]; then
  owner="$(stat -c %U "$state_dir" 2>/dev/null || echo root)"
  if [ "$owner" != root ]; then
    echo "@COMMAND@: warning: running as root on $state_dir, which belongs to $owner: files written there would belong to root; run it as: runuser -u $owner -- @COMMAND@ ..." >&2
  fi
fi

exec node "$here/../@ENTRY@" "$@"
