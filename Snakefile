# DCCNN-LSTM-Reg cohort registration workflow (see README.md).
#   your cohort:  snakemake --cores all --configfile my_config.yaml
#   the demo:     dccnnreg demo && snakemake --cores all --configfile config/demo.yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version, validate

min_version("9.20")


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
