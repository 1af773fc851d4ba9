from dccnnreg.nifti import subject_errors
from dccnnreg.preprocess import affine_preprocess
from dccnnreg.workflow import start_log

start_log(snakemake.log[0], snakemake.threads)
with subject_errors(snakemake.wildcards.dataset, snakemake.wildcards.subject):
    affine_preprocess(snakemake.input.image, snakemake.input.atlas_head, dict(snakemake.output), n4=snakemake.params.n4)
