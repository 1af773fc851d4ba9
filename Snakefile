# DCCNN-LSTM-Reg cohort registration workflow. Run: snakemake --cores all  (see README.md)
from snakemake.utils import min_version, validate

min_version("9.20")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/register.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    input:
        expand("results/{dataset}/report/summary.tsv", dataset=DATASETS),
    default_target: True
