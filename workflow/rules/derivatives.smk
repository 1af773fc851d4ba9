rule bids_derivatives:
    input:
        unpack(derivatives_inputs),
        template_labels=TEMPLATE["labels"],
        label_names=LABEL_NAMES,
    output:
        directory(DERIVATIVES),
    params:
        source_root=lambda wc: config["bids"]["root"],
        units=derivative_units,
        images=lambda wc: dict(zip(SHEET["subject"], SHEET["image"])),
        cohort=lambda wc: {m: {k: f"results/{DATASETS[0]}/cohort/{m}/{k}.tsv" for k in ("qc", "volumes")}
                           for m in COHORT_METHODS},
        reference=TEMPLATE["head"],
        config=config,
    localrule: True
    conda:
        "../../envs/dccnnreg.yaml"
    log:
        "logs/bids_derivatives.log",
    script:
        "../scripts/bids_derivatives.py"
