from dccnnreg.preprocess import check_subjects
from dccnnreg.workflow import start_log

start_log(snakemake.log[0])
check_subjects(snakemake.wildcards.dataset, snakemake.params.files, snakemake.output[0])
