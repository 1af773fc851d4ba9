from dccnnreg.preprocess import affine_preprocess
from dccnnreg.workflow import start_log, subject_errors

start_log(snakemake.log[0], snakemake.threads)
with subject_errors(snakemake.wildcards.dataset, snakemake.wildcards.subject):
    affine_preprocess(snakemake.input.image, snakemake.input.labels or None, snakemake.input.atlas_head,
                      dict(snakemake.output), n4=snakemake.params.n4)
