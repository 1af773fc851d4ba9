from dccnnreg.derivatives import write_derivatives
from dccnnreg.jobs import start_log

start_log(snakemake.log[0])
p, i = snakemake.params, snakemake.input
n = write_derivatives(snakemake.output[0], p.source_root, p.config, p.units, p.images, list(i.qc_tables),
                      list(i.volume_tables), i.template_labels, i.label_names or None, p.reference)
print(f"BIDS derivatives of {n} images in {snakemake.output[0]}")
