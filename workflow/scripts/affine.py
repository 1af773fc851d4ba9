from dccnnreg.jobs import start_log
from dccnnreg.nifti import subject_errors
from dccnnreg.preprocess import affine_preprocess

start_log(snakemake.log[0], snakemake.threads)
with subject_errors(snakemake.wildcards.dataset, snakemake.wildcards.subject):
    affine_preprocess(snakemake.input.image, snakemake.input.atlas_head, dict(snakemake.output), n4=snakemake.params.n4,
                      reference_path=snakemake.input.reference, metric=snakemake.params.metric,
                      mask_path=snakemake.input.atlas_mask, mask_margin_mm=snakemake.params.mask_mm)
