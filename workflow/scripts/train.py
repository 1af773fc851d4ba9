from pathlib import Path

from dccnnreg.data import subject_files
from dccnnreg.jobs import start_log
from dccnnreg.train_job import train_job

start_log(snakemake.log[0], snakemake.threads)
i, p = snakemake.input, snakemake.params
ids = p.ids
train_job(
    p.method, p.net, p.train,
    subject_files(ids["train"], i.train_images, ids["train_labelled"], i.train_labels),
    subject_files(ids["val"], i.val_images, ids["val_labelled"], i.val_labels),
    (i.atlas, i.atlas_labels), Path(snakemake.output.model).parent, snakemake.log[0], snakemake.output.curve, p.title,
)
