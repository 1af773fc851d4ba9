from dccnnreg.jobs import start_log
from dccnnreg.nifti import subject_errors
from dccnnreg.preprocess import labels_to_grid

start_log(snakemake.log[0])
with subject_errors(snakemake.wildcards.dataset, snakemake.wildcards.subject):
    labels_to_grid(snakemake.input.labels, snakemake.input.image, snakemake.input.atlas_head,
                   snakemake.input.affine, snakemake.output[0])
