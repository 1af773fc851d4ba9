from pathlib import Path

from dccnnreg.workflow import evaluate_job, start_log

start_log(snakemake.log[0])
i, wc = snakemake.input, snakemake.wildcards
registration = Path(i.registration) / wc.subject if "registration" in i.keys() else None
evaluate_job(i.fixed_labels, i.mask, registration, None if registration else i.warped_labels, snakemake.params.labels,
             wc.method, wc.subject, snakemake.output.table, snakemake.output.summary)
