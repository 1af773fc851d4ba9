from dccnnreg.cohort_summary import write_cohort_outputs
from dccnnreg.jobs import start_log

start_log(snakemake.log[0])
p, i = snakemake.params, snakemake.input
write_cohort_outputs(snakemake.wildcards.dataset, snakemake.wildcards.method, list(i.checks), p.dirs, p.excluded,
                     i.atlas_brain, i.atlas_labels, dict(snakemake.output))
