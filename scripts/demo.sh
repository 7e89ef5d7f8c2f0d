#!/usr/bin/env bash
# Set up, then run the main job: explain the bundled photographs with all four WOX methods on
# the embedded EfficientNet-Lite0 (output in demo-output/; open the *-summary.png figures).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/python -m explain_engine demo --out demo-output "$@"
