from dccnnreg.jobs import start_log
from dccnnreg.register_jobs import job_atlas, job_subjects, register_syn_job

start_log(snakemake.log[0], snakemake.threads)
register_syn_job(job_atlas(snakemake.input), job_subjects(snakemake.input, snakemake.params.ids), snakemake.output[0],
                 snakemake.wildcards.dataset, snakemake.params.preset, snakemake.params.seed)
