# DCCNN-LSTM-Reg cohort registration workflow (see README.md).
#   your cohort:  snakemake --cores all --configfile my_config.yaml
#   the demo:     dccnnreg demo && snakemake --cores all --configfile config/demo.yaml
import atexit
import gc

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.20")

# Planning a large cohort builds millions of long-lived objects (2.3 M at 10,000 subjects) that Python's
# cyclic garbage collector traverses again at every full collection and once more at exit: ~13 s of a
# ~50 s plan (bench/planning.py). Collect less often, and not at exit (the OS frees the memory).
gc.set_threshold(100_000)
atexit.register(gc.freeze)


configfile: "config/config.yaml"


if not (config.get("subjects") or config.get("bids")) or not config.get("template"):
    raise WorkflowError(
        "no cohort configured: set `bids: {root: ...}` (a BIDS dataset) or `subjects:` (a subject sheet) and "
        "`template:` (head, brain_mask, labels) in a config file and pass it with --configfile (README: 'Your own "
        "cohort'), or run the built-in demo: dccnnreg demo && snakemake --cores all --configfile config/demo.yaml"
    )
validate(config, "workflow/schemas/config.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"


include: "workflow/rules/preprocess.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/register.smk"
include: "workflow/rules/cohort.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/derivatives.smk"


rule all:
    input:
        final_outputs,
    default_target: True
    localrule: True
