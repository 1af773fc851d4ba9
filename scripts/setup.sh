#!/usr/bin/env bash
# Create .venv with a CPU build of torch and the package with its workflow and test extras.
# For a CUDA machine, install the torch build you need first and set DCCNNREG_TORCH="".
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -d .venv ] || "$PY" -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q ${DCCNNREG_TORCH-torch==2.13.0}
python -m pip install -q -e ".[workflow,test]"
python -c "import torch, ants, snakemake, dccnnreg; print('dccnnreg', dccnnreg.__version__, '| torch', torch.__version__, '| cuda', torch.cuda.is_available())"
