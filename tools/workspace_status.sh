#!/usr/bin/env bash
# Bazel workspace status: the values stamped into the vpo binary.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "STABLE_VPO_VERSION $(tr -d '[:space:]' < VERSION)"
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || true)
echo "STABLE_VPO_COMMIT ${commit:-unknown}"
