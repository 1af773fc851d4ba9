from dccnnreg.jobs import start_log
from dccnnreg.preprocess import make_affine_reference

start_log(snakemake.log[0])
make_affine_reference(dict(snakemake.input), snakemake.output[0], snakemake.params.shape, snakemake.params.spacing,
                      snakemake.params.fine_spacing)
