from dccnnreg.jobs import start_log
from dccnnreg.register_jobs import job_atlas, job_subjects, register_network_job

start_log(snakemake.log[0], snakemake.threads)
register_network_job(snakemake.input.model, job_atlas(snakemake.input), job_subjects(snakemake.input, snakemake.params.ids),
                     snakemake.output[0], snakemake.wildcards.dataset, snakemake.params.precision, snakemake.params.refine,
                     snakemake.params.subdivision)
