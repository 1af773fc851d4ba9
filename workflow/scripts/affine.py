from dccnnreg.jobs import start_log
from dccnnreg.nifti import subject_errors
from dccnnreg.preprocess import affine_preprocess

start_log(snakemake.log[0], snakemake.threads)
with subject_errors(snakemake.wildcards.dataset, snakemake.wildcards.subject):
    mask_mm = snakemake.params.mask_mm
    affine_preprocess(snakemake.input.image, snakemake.input.atlas_head, dict(snakemake.output), n4=snakemake.params.n4,
                      reference_path=snakemake.input.reference, metric=snakemake.params.metric,
                      mask_path=None if mask_mm is None else snakemake.input.atlas_mask, mask_margin_mm=mask_mm)
