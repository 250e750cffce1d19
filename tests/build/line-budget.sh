#!/usr/bin/env bash
# The executor's audit budget (DESIGN.md): all C linked into berth-execd,
# generated protobuf code aside, stays under BUDGET non-blank, non-comment
# lines. Usage: line-budget.sh BUDGET SOURCE.c...
# The .c files come from the build (meson passes the executor's, lib/core's
# and ipc's source lists), so a new file is counted without editing this
# script; the hand-written headers in the same directories are counted too.
# Prints TAP.
set -euo pipefail

budget=${1:?usage: line-budget.sh BUDGET SOURCE.c...}
shift

declare -A seen=()
files=()
add() {
  local f
  f=$(realpath -- "$1")
  case $f in *.pb-c.c | *.pb-c.h) return ;; esac # generated
  [[ -n ${seen[$f]:-} ]] && return
  seen[$f]=1
  files+=("$f")
}
for src in "$@"; do
  [[ -f $src ]] || { echo "1..1"; echo "not ok 1 - source file $src does not exist"; exit 0; }
  add "$src"
  for h in "$(dirname -- "$src")"/*.h; do
    [[ -f $h ]] && add "$h"
  done
done

echo "1..1"
if ((${#files[@]} == 0)); then
  echo "not ok 1 - no files counted: the build passed no sources"
  exit 0
fi

# Strips /* */ and // comments (not inside string or character literals)
# and prints the number of lines with anything left on them.
count() {
  awk '
    BEGIN { block = 0 }
    {
      line = $0; out = ""; n = length(line); quote = ""
      for (i = 1; i <= n; i++) {
        c = substr(line, i, 1); c2 = substr(line, i, 2)
        if (block) { if (c2 == "*/") { block = 0; i++ } continue }
        if (quote != "") {
          out = out c
          if (c == "\\") { out = out substr(line, i + 1, 1); i++ }
          else if (c == quote) quote = ""
          continue
        }
        if (c2 == "/*") { block = 1; i++; continue }
        if (c2 == "//") break
        if (c == "\"" || c == "'\''") quote = c
        out = out c
      }
      if (out ~ /[^ \t\r\f\v]/) total++
    }
    END { print total + 0 }
  ' "$1"
}

total=0
for f in "${files[@]}"; do
  n=$(count "$f")
  total=$((total + n))
  echo "# $n ${f#"$PWD"/}"
done
if ((total < budget)); then
  echo "ok 1 - berth-execd links $total lines of C in ${#files[@]} files (budget $budget)"
else
  echo "not ok 1 - berth-execd links $total lines of C in ${#files[@]} files: over the budget of $budget"
fi
