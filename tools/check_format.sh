#!/usr/bin/env bash
# Fails when a tracked C++ file differs from clang-format's output (STYLE B4:
# BasedOnStyle LLVM, .clang-format at the root). Fix with:
#   git ls-files '*.cpp' '*.h' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
fmt=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$fmt" ]; then
  echo "check_format: clang-format not found (scripts/setup.sh installs clang-format-14)"
  exit 1
fi
files=$(git ls-files '*.cpp' '*.h' 2>/dev/null || find . -name '*.cpp' -o -name '*.h')
if ! out=$(echo "$files" | xargs "$fmt" --dry-run -Werror 2>&1); then
  echo "$out" | grep 'error:' | head -20
  echo "check_format: files above are not clang-formatted"
  exit 1
fi
echo "check_format: $(echo "$files" | wc -l) files clang-formatted"
