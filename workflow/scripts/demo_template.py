from pathlib import Path

from dccnnreg.demo import build_template
from dccnnreg.workflow import start_log

start_log(snakemake.log[0])
build_template(Path(snakemake.output.head).parent, snakemake.params.spacing)
