from dccnnreg.workflow import run_dataset_report, start_log

start_log(snakemake.log[0])
run_dataset_report(snakemake)
