from dccnnreg.jobs import start_log
from dccnnreg.preprocess import preprocess_qc

start_log(snakemake.log[0])
preprocess_qc(snakemake.params.subjects, snakemake.output[0])
