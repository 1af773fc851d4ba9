"""What every job does first: CPU-thread settings that hold beside neighbours, and the job log."""

import json
import os
import subprocess
import sys


def run_python(code: str, **env) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], env=base | env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_dccnnreg_shortens_openmp_spinning_unless_the_user_set_it():
    code = "import os, json, dccnnreg; print(json.dumps(os.environ.get('GOMP_SPINCOUNT')))"
    assert run_python(code) == "1000"
    assert run_python(code, GOMP_SPINCOUNT="5") == "5"


def test_start_log_caps_threads_of_torch_loaded_before_and_after(tmp_path):
    log = tmp_path / "logs" / "job.log"
    before = ("import json, torch; from dccnnreg.jobs import start_log; start_log(%r, 1); "
              "print(json.dumps(torch.get_num_threads()), file=__import__('sys').__stdout__)" % str(log))
    after = ("import json, os; from dccnnreg.jobs import start_log; start_log(%r, 1); import torch; "
             "print(json.dumps([torch.get_num_threads(), os.environ['ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS']]), "
             "file=__import__('sys').__stdout__)" % str(log))
    assert run_python(before) == 1
    assert run_python(after) == [1, "1"]
    assert log.exists()
