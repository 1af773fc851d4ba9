from pathlib import Path

from dccnnreg.demo import make_subject
from dccnnreg.workflow import start_log

start_log(snakemake.log[0])
make_subject(Path(snakemake.input[0]).parent, snakemake.params.seed, snakemake.output.image,
             snakemake.output.labels, snakemake.params.spacing, snakemake.params.bias)
