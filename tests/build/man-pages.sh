#!/usr/bin/env bash
# Every command of the CLI has a man page in docs/man (berth-COMMAND.1, and
# berth-GROUP-COMMAND.1 or the group's page for management commands), every
# page is installed, every ".so" alias points at a page that exists, and
# every real page formats without a warning (groff -ww). Prints TAP.
# Usage: man-pages.sh BERTH_CLI DOCS_MAN_DIR INSTALLED_PAGE...
set -euo pipefail
cli=${1:?usage}
dir=${2:?usage}
shift 2
declare -A installed=()
for p in "$@"; do installed[$(basename "$p")]=1; done

# the command names of a --help text's "Commands:"/"Management Commands:" sections
commands() {
  "$cli" "$@" --help | awk '/^(Management )?Commands:/ { on = 1; next } /^$/ { on = 0 } on && NF { print $1 }'
}

pages=()
for c in $(commands); do
  pages+=("berth-$c.1")
done
for c in $(commands container); do # `berth container X` is `berth X`
  pages+=("berth-container-$c.1|berth-$c.1|berth-container.1")
done
for c in $(commands image); do # not berth-rm.1 for `image rm`: berth-image.1 points at each page
  pages+=("berth-image-$c.1|berth-image.1")
done

echo "1..$((${#pages[@]} + 2))"
n=0
for want in "${pages[@]}"; do
  n=$((n + 1))
  found=
  IFS='|' read -ra alts <<<"$want"
  for a in "${alts[@]}"; do
    if [[ -f $dir/$a && -n ${installed[$a]:-} ]]; then found=$a; break; fi
  done
  if [[ -n $found ]]; then
    echo "ok $n - man page for ${alts[0]%.1}: $found (installed)"
  else
    echo "not ok $n - no installed man page for ${alts[0]%.1} (looked for ${alts[*]} in $dir and the install list)"
  fi
done

n=$((n + 1))
bad=()
for f in "$dir"/*.1; do
  if read -r first <"$f" && [[ $first == .so\ * ]]; then
    target=${first#.so }
    [[ -f $dir/${target#man1/} ]] || bad+=("$(basename "$f") -> $target")
  fi
done
if ((${#bad[@]} == 0)); then echo "ok $n - every .so alias points at a page in $dir"; else echo "not ok $n - dangling aliases: ${bad[*]}"; fi

n=$((n + 1))
if ! command -v groff >/dev/null; then
  echo "ok $n # SKIP groff missing (groff-base): the pages' formatting is not checked"
  exit 0
fi
warn=()
for f in "$dir"/*.1; do
  read -r first <"$f"
  [[ $first == .so\ * ]] && continue
  out=$(LC_ALL=C.UTF-8 groff -man -Tutf8 -ww -z "$f" 2>&1) || warn+=("$(basename "$f"): groff failed")
  [[ -z $out ]] || warn+=("$(basename "$f"): $out")
done
if ((${#warn[@]} == 0)); then echo "ok $n - every page formats without a groff warning"; else
  echo "not ok $n - groff warnings"; printf '# %s\n' "${warn[@]}"; fi
