from dccnnreg.jobs import start_log
from dccnnreg.evaluate import evaluate_job

start_log(snakemake.log[0])
i, p = snakemake.input, snakemake.params
evaluate_job(i.fixed_labels, i.mask, p.pairs, p.labels, snakemake.wildcards.method, snakemake.output.table,
             snakemake.output.summary)
