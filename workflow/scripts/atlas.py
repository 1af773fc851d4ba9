from dccnnreg.jobs import start_log
from dccnnreg.preprocess import make_atlas

start_log(snakemake.log[0])
make_atlas(dict(snakemake.input), dict(snakemake.output), snakemake.params.shape, snakemake.params.spacing)
