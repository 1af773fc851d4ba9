from dccnnreg.jobs import start_log
from dccnnreg.preprocess import check_subjects

start_log(snakemake.log[0])
check_subjects(snakemake.wildcards.dataset, snakemake.params.files, snakemake.output[0])
