from dccnnreg.preprocess import make_atlas
from dccnnreg.workflow import start_log

start_log(snakemake.log[0])
make_atlas(dict(snakemake.input), dict(snakemake.output), snakemake.params.shape, snakemake.params.spacing)
