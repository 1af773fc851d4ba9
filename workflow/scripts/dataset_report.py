from dccnnreg.jobs import start_log
from dccnnreg.benchmark_report import benchmark_report

start_log(snakemake.log[0])
i, p = snakemake.input, snakemake.params
benchmark_report(list(i.summaries), list(i.tables), p.methods, dict(zip(p.deformable, i.examples)), i.affine_example,
                 i.atlas_labels, i.label_names or None, snakemake.wildcards.dataset, dict(snakemake.output))
