from dccnnreg.jobs import start_log
from dccnnreg.nifti import load_volume, subject_errors
from dccnnreg.plots import overlay_png
from dccnnreg.preprocess import skull_strip

start_log(snakemake.log[0], snakemake.threads)
with subject_errors(snakemake.wildcards.dataset, snakemake.wildcards.subject):
    skull_strip(snakemake.input.image, snakemake.input.atlas_head, snakemake.input.atlas_mask,
                dict(snakemake.output), enabled=snakemake.params.enabled)
overlay_png(load_volume(snakemake.input.image).data, load_volume(snakemake.output.mask, labels=True).data,
            snakemake.output.qc, f"{snakemake.wildcards.subject}: brain mask")
