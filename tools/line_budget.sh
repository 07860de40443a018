#!/usr/bin/env bash
# Prints line totals per folder and fails on a source file over 1000 lines
# that tools/line_budget_exceptions.txt does not list (STYLE B6).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
exceptions=tools/line_budget_exceptions.txt
files=$(git ls-files '*.cpp' '*.h' '*.def' 2>/dev/null || find . -name '*.cpp' -o -name '*.h')
printf '%-10s %7s\n' folder lines
for d in ir passes codegen runtime frontend tools tests; do
  n=$( (echo "$files" | grep "^$d/" || true) | xargs -r cat | wc -l)
  printf '%-10s %7d\n' "$d" "$n"
done
status=0
for f in $files; do
  n=$(wc -l < "$f")
  if [ "$n" -gt 1000 ] && ! grep -q "^$f " "$exceptions" 2>/dev/null; then
    echo "line_budget: $f has $n lines (over 1000): split it, or list it in $exceptions with a reason"
    status=1
  fi
done
[ $status -eq 0 ] && echo "line_budget: every file within 1000 lines"
exit $status
