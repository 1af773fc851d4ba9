from dccnnreg.workflow import run_registration, start_log

start_log(snakemake.log[0], snakemake.threads)
run_registration(snakemake)
