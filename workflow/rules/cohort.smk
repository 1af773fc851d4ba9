# The product: every subject of the cohort registered by each method in `register.methods`, with
# per-dataset tables and population maps. Subjects whose input check failed are listed, not dropped.


rule cohort_tables:
    input:
        unpack(cohort_inputs),
        atlas_brain=ATLAS["brain"],
        atlas_labels=ATLAS["labels"],
    output:
        volumes=report("results/{dataset}/cohort/{method}/volumes.tsv", caption="../report/volumes.rst",
                       category="{dataset}", subcategory="Cohort", labels={"method": "{method}", "what": "volumes"}),
        qc=report("results/{dataset}/cohort/{method}/qc.tsv", caption="../report/qc.rst",
                  category="{dataset}", subcategory="Cohort", labels={"method": "{method}", "what": "QC table"}),
        mean_brain="results/{dataset}/cohort/{method}/mean_brain.nii.gz",
        logjac_mean="results/{dataset}/cohort/{method}/logjac_mean.nii.gz",
        logjac_sd="results/{dataset}/cohort/{method}/logjac_sd.nii.gz",
        mean_brain_png=report("results/{dataset}/cohort/{method}/mean_brain.png", caption="../report/mean_brain.rst",
                              category="{dataset}", subcategory="Cohort", labels={"method": "{method}", "what": "mean brain"}),
        logjac_png=report("results/{dataset}/cohort/{method}/logjac.png", caption="../report/logjac.rst",
                          category="{dataset}", subcategory="Cohort", labels={"method": "{method}", "what": "log-Jacobian"}),
        qc_png=report("results/{dataset}/cohort/{method}/qc.png", caption="../report/qc_plot.rst",
                      category="{dataset}", subcategory="Cohort", labels={"method": "{method}", "what": "QC plot"}),
    params:
        dirs=lambda wc: {s: registration_dir(wc.dataset, wc.method, s) for s in subjects(wc.dataset)},
        excluded=lambda wc: sorted(s for d, s in EXCLUDED if d == wc.dataset),
    wildcard_constraints:
        method="|".join(COHORT_METHODS),
    resources:
        mem_mb=8000,
        runtime=60,
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/{dataset}/cohort/{method}.log",
    benchmark:
        "benchmarks/{dataset}/cohort/{method}.tsv"
    script:
        "../scripts/cohort_tables.py"
