from dccnnreg.workflow import run_syn_registration, start_log

start_log(snakemake.log[0], snakemake.threads)
run_syn_registration(snakemake)
