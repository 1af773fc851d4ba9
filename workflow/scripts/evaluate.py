from dccnnreg.workflow import run_evaluation, start_log

start_log(snakemake.log[0])
run_evaluation(snakemake)
