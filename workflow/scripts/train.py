from dccnnreg.workflow import run_training, start_log

start_log(snakemake.log[0], snakemake.threads)
run_training(snakemake)
